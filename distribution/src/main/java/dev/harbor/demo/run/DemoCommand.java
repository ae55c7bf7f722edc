package dev.harbor.demo.run;

import dev.harbor.cli.DurationConverter;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code harbor demo}: a local 3-node cluster under load, shut down through the coordinator, and the
 * zero-loss check. Exits 0 when every check holds, 1 when one fails, 2 for bad options.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Start a local 3-node cluster (gateways on nodes 1 and 2, the writer on node 3, the coordinator on"
                + " node 1), put simulated chat clients on it, shut it down through the coordinator mid-load, print the exit"
                + " timeline and check that nothing was lost.")
public final class DemoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--clients", defaultValue = "300", description = "Simulated clients. Default: ${DEFAULT-VALUE}.")
    int clients;

    @Option(names = "--duration", defaultValue = "5s", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "How long the clients write before the shutdown starts, like 5s or 1500ms. Default: ${DEFAULT-VALUE}.")
    Duration duration;

    @Option(names = "--budget", defaultValue = "30s", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "The shutdown's time budget. Default: ${DEFAULT-VALUE}.")
    Duration budget;

    @Option(names = "--database", paramLabel = "JDBC_URL",
            description = "The writer's database, e.g. jdbc:postgresql://127.0.0.1:5432/harbor?user=harbor&password=secret."
                    + " Default: an embedded H2 file in the run's directory.")
    String database;

    @Option(names = "--dir", paramLabel = "DIR", description = "Where the run's configs, logs and database go. Default: a new temporary directory.")
    Path dir;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        DemoRun.Options options;
        try {
            options = new DemoRun.Options(clients, duration, budget, database,
                    dir != null ? dir : Files.createTempDirectory("harbor-demo-"));
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        boolean terminal = System.console() != null;
        DemoReport report;
        try {
            report = new DemoRun(options, line -> {
                // The load line repeats every second: on a terminal it rewrites itself in place.
                if (terminal && line.startsWith("load:")) {
                    out.print("\r" + line + "   ");
                } else {
                    out.println((terminal ? "\r" : "") + line);
                }
                out.flush();
            }, new DemoRun.Hooks() {
            }).run();
        } catch (IllegalStateException e) {
            spec.commandLine().getErr().println("harbor demo: " + e.getMessage());
            return 1;
        }
        report.print(out);
        return report.passed() ? 0 : 1;
    }
}
