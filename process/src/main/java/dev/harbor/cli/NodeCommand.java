package dev.harbor.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code harbor node}: runs a node process until it is stopped (admin {@code Stop}, or SIGTERM), then
 * exits 0. Prints exactly one line on stdout, {@code harbor node <id> ready on <advertise>}, once the
 * node serves and its configured services are launched; everything else goes to the log (stderr).
 */
@Command(name = "node", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        modelTransformer = NodeCommand.SettingsHelp.class, description = {
        "Runs a node: its services, its links to the other nodes, and its admin API, on one gRPC port.",
        "Settings come from the --config properties file; HARBOR_<KEY> environment variables override them"
                + " (node.id -> HARBOR_NODE_ID, harbor.heartbeat-ms -> HARBOR_HARBOR_HEARTBEAT_MS). Every key is listed below.",
        "Stops gracefully on SIGTERM or 'harbor stop', and exits 0."})
final class NodeCommand implements Callable<Integer> {
    /** The variable that adds to the class path when --classpath is not given. */
    static final String CLASSPATH_VARIABLE = "HARBOR_CLASSPATH";
    private static final Logger log = LoggerFactory.getLogger(NodeCommand.class);

    @Option(names = "--config", paramLabel = "FILE", description = "The node's properties file (optional if the environment sets every required key).")
    Path config;

    @Option(names = "--classpath", paramLabel = "PATHS", defaultValue = "${env:" + CLASSPATH_VARIABLE + "}",
            description = {"Where your services' classes are: jars, and folders of jars and classes, separated by '"
                    + "${sys:path.separator}' (a folder adds every jar in it, and its classes).",
                    "Default: the " + CLASSPATH_VARIABLE + " variable. The container image uses /opt/harbor/services."})
    String classpath;

    @Spec
    CommandSpec spec;

    /** Where HARBOR_* overrides come from. */
    private final Map<String, String> env;

    NodeCommand() {
        this(System.getenv());
    }

    /** How long SIGTERM's ordered drain may take: inside Kubernetes' default 30 s grace period. */
    static final java.time.Duration DRAIN_BUDGET = java.time.Duration.ofSeconds(25);

    NodeCommand(Map<String, String> env) {
        this.env = env;
    }

    @Override
    public Integer call() {
        PrintWriter err = spec.commandLine().getErr();
        if (classpath != null && !classpath.isBlank()) {
            try {
                // Set before anything loads a service or an extension: both are looked up through the
                // context class loader of this, the process's main thread.
                Thread.currentThread().setContextClassLoader(ServiceClassPath.loader(classpath, NodeCommand.class.getClassLoader()));
            } catch (IllegalArgumentException e) {
                err.println("harbor node: --classpath: " + e.getMessage());
                err.flush();
                return 2;
            }
        }
        NodeConfig settings;
        try {
            settings = NodeConfig.load(config, env);
        } catch (NodeConfig.InvalidConfigException e) {
            err.println("harbor node: " + e.getMessage());
            err.flush();
            return 2;
        }
        NodeProcess process;
        try {
            process = NodeProcess.start(settings);
        } catch (NodeProcess.StartException e) {
            err.println("harbor node: " + e.getMessage());
            err.flush();
            return e.exitCode();
        }
        // SIGTERM (docker stop, a pod's deletion) runs the hook: drain and stop gracefully, then exit with
        // the process's exit code (0 for a stop on request: a success, not the JVM's 143). If a stop is
        // already under way (an admin Stop), drainThenStop waits for it to finish. The hook stays
        // installed to the end: main's own System.exit runs it too, when everything has stopped, and it
        // halts with the same code; a SIGTERM that comes while main is returning then still ends in that
        // code, where with the hook removed first the JVM's default made it 143.
        Thread hook = new Thread(() -> {
            process.drainThenStop(DRAIN_BUDGET);
            Runtime.getRuntime().halt(process.exitCode());
        }, "harbor-node-" + settings.nodeId() + "-sigterm");
        Runtime.getRuntime().addShutdownHook(hook);

        PrintWriter out = spec.commandLine().getOut();
        out.println("harbor node " + settings.nodeId() + " ready on " + process.advertise());
        out.flush();
        try {
            process.awaitStopped();
        } catch (InterruptedException e) {
            log.info("node {}: interrupted; stopping", settings.nodeId());
            process.stop();
            Thread.currentThread().interrupt();
        }
        return process.exitCode();
    }

    /** Lists every setting a node reads, its own and its extensions', before the end of {@code harbor node --help}. */
    static final class SettingsHelp implements picocli.CommandLine.IModelTransformer {
        private static final String SECTION = "settings";

        @Override
        public CommandSpec transform(CommandSpec spec) {
            var usage = spec.usageMessage();
            java.util.Map<String, picocli.CommandLine.IHelpSectionRenderer> sections = new java.util.LinkedHashMap<>(usage.sectionMap());
            sections.put(SECTION, help -> {
                int width = usage.width();
                var table = picocli.CommandLine.Help.TextTable.forColumns(help.colorScheme(),
                        new picocli.CommandLine.Help.Column(28, 2, picocli.CommandLine.Help.Column.Overflow.SPAN),
                        new picocli.CommandLine.Help.Column(width - 28, 1, picocli.CommandLine.Help.Column.Overflow.WRAP));
                NodeConfig.allKeyHelp().forEach(table::addRowValues);
                return "%nSettings (in the --config file, or HARBOR_<KEY> variables):%n".formatted() + table;
            });
            java.util.List<String> keys = new java.util.ArrayList<>(usage.sectionKeys());
            int footer = keys.indexOf(picocli.CommandLine.Model.UsageMessageSpec.SECTION_KEY_FOOTER_HEADING);
            keys.add(footer < 0 ? keys.size() : footer, SECTION);
            usage.sectionMap(sections);
            usage.sectionKeys(keys);
            return spec;
        }
    }
}
