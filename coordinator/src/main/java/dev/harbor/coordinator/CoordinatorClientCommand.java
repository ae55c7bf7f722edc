package dev.harbor.coordinator;

import dev.harbor.cli.DurationConverter;
import dev.harbor.cli.RemoteCommand;
import dev.harbor.proto.CoordinatorGrpc;
import dev.harbor.security.BearerAuth;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

/**
 * A command that talks to the coordinator: {@code --coordinator}, the token ({@code --token-file} or
 * {@code HARBOR_COORDINATOR_TOKEN}), {@code --budget} and {@code --nodes}. Exit codes: 0 done (a clean
 * run, a plan that fits); 1 refused, not clean, or the coordinator could not be reached; 2 bad input.
 */
abstract class CoordinatorClientCommand extends RemoteCommand {
    @Option(names = "--coordinator", paramLabel = "HOST:PORT", defaultValue = "127.0.0.1:7700",
            description = "The address of the node that hosts the coordinator. Default: ${DEFAULT-VALUE}.")
    String coordinator;

    @Option(names = "--budget", paramLabel = "DURATION", defaultValue = "30s", converter = DurationConverter.class,
            description = "The most the shutdown may take, like 30s or 1500ms. Default: ${DEFAULT-VALUE}.")
    Duration budget;

    @Option(names = "--nodes", paramLabel = "ID", split = ",",
            description = "Stop only these nodes (and those that depend on them), e.g. --nodes 2,3. Default: all.")
    List<Integer> nodes = new ArrayList<>();

    /** The --budget in ms as the wire's uint32 carries it: 1 to 4294967295 (about 49 days). */
    int budgetMs() {
        if (budget.isZero() || budget.isNegative() || budget.toMillis() > 0xFFFF_FFFFL) {
            throw new ParameterException(spec.commandLine(), "--budget: expected a positive duration of at most 4294967295ms"
                    + " (about 49 days), got " + budget.toMillis() + "ms");
        }
        return (int) budget.toMillis();
    }

    /** Runs {@code body} with a stub that carries the token; the channel is closed after. */
    int withCoordinator(java.util.function.Function<CoordinatorGrpc.CoordinatorBlockingStub, Integer> body) {
        String token = token();
        // A plan of thousands of steps is megabytes; allow it.
        ManagedChannel channel = channel(hostPort("--coordinator", coordinator), 64 * 1024 * 1024);
        try {
            return body.apply(CoordinatorGrpc.newBlockingStub(channel).withCallCredentials(BearerAuth.credentials(token)));
        } finally {
            channel.shutdownNow();
        }
    }

    private String token() {
        String t = tokenOrNull();
        if (t == null) {
            throw new ParameterException(spec.commandLine(),
                    "no token: pass --token-file FILE or set " + TOKEN_VARIABLE + " to the cluster's token");
        }
        return t;
    }

    int failed(Status status) {
        String why = status.getDescription() != null ? status.getDescription() : status.getCode().toString();
        err().println("harbor " + spec.name() + ": " + (status.getCode() == Status.Code.UNAVAILABLE
                ? "cannot reach the coordinator at " + coordinator + ": " + why : why));
        err().flush();
        return 1;
    }
}
