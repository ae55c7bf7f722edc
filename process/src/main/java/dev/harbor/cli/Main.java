package dev.harbor.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The {@code harbor} command line: runs a node process ({@code harbor node}) and talks to running
 * nodes ({@code services}, {@code kill}, {@code stop}, {@code abort}, {@code watch-exits}).
 *
 * <p>Exit codes: 0 success; 1 failure (a node unreachable or refusing, a service that failed to
 * launch); 2 bad usage or bad settings.
 */
@Command(name = "harbor", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Harbor: a cluster of nodes hosting lightweight services.",
        subcommands = {NodeCommand.class, ServicesCommand.class, KillCommand.class, StopCommand.class, AbortCommand.class, CordonCommand.class,
                WatchExitsCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Callable<Integer> {
    /** The node process's logging setup, on the class path (see {@link #main}). */
    static final String LOGBACK_CONFIG = "dev/harbor/cli/logback.xml";

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        throw new ParameterException(spec.commandLine(), "name a command: node, services, kill, stop, abort or watch-exits");
    }

    /**
     * Runs the command line and exits with its code. The logging setup is the CLI's own resource
     * rather than a {@code logback.xml} at the root of the jar, so that programs which embed
     * harbor-node keep their own; {@code -Dlogback.configurationFile} still overrides it.
     */
    public static void main(String[] args) {
        if (System.getProperty("logback.configurationFile") == null) {
            System.setProperty("logback.configurationFile", LOGBACK_CONFIG);
        }
        System.exit(commandLine().execute(args));
    }

    /** The command line with the commands of the {@linkplain NodeExtension extensions} on the class path. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        for (NodeExtension e : NodeExtension.installed()) {
            e.commands().forEach(cl::addSubcommand);
        }
        return cl;
    }

    /** The version from the jar's manifest, when run from the jar. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"harbor " + (v == null ? "(development build)" : v)};
        }
    }
}
