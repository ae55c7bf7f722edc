package dev.harbor.cli;

import dev.harbor.proto.NodeGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import picocli.CommandLine.Option;

/**
 * A command that talks to one node's admin API. Exit codes: 0 done; 1 the node could not be reached
 * or refused; 2 bad input (picocli's usage errors, or the node said the request was invalid).
 */
abstract class NodeClientCommand extends RemoteCommand {
    /** How long a request may take before the command gives up on the node. */
    static final Duration TIMEOUT = Duration.ofSeconds(10);
    /** A node with a million services answers ListServices with tens of megabytes. */
    private static final int MAX_RESPONSE_BYTES = 512 * 1024 * 1024;

    @Option(names = "--node", paramLabel = "HOST:PORT", defaultValue = "127.0.0.1:7700",
            description = "The node's address (its node.advertise setting). Default: ${DEFAULT-VALUE}.")
    String node;

    /** The --node address, checked to be host:port. */
    String target() {
        return hostPort("--node", node);
    }

    /** Makes one call with a blocking stub and prints its answer; reports a failure as one line on stderr. */
    <T> int unary(Function<NodeGrpc.NodeBlockingStub, T> rpc, Function<T, Integer> print, Duration timeout) {
        String target = target();
        ManagedChannel channel = channel(target, MAX_RESPONSE_BYTES);
        try {
            NodeGrpc.NodeBlockingStub stub = NodeGrpc.newBlockingStub(channel).withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS);
            io.grpc.CallCredentials token = tokenCredentials();
            T answer = rpc.apply(token == null ? stub : stub.withCallCredentials(token));
            return print.apply(answer);
        } catch (StatusRuntimeException e) {
            return failed(e.getStatus());
        } finally {
            channel.shutdownNow();
        }
    }

    /** Prints why a call to the node failed, on one line of stderr, and returns the exit code. */
    int failed(Status status) {
        String why = status.getDescription() != null ? status.getDescription()
                : status.getCause() != null ? status.getCause().toString() : status.getCode().toString();
        switch (status.getCode()) {
            case UNAVAILABLE -> err().println("harbor: cannot reach the node at " + node + " (" + why
                    + "). Is it running, and is --node its advertised host:port?");
            case DEADLINE_EXCEEDED -> err().println("harbor: the node at " + node + " did not answer in time ("
                    + why + "): it may be overloaded or stuck; try again, or look at its log");
            case UNAUTHENTICATED -> err().println("harbor: the node at " + node + " wants the cluster's token: " + why);
            case UNIMPLEMENTED -> err().println("harbor: " + node + " does not serve the harbor node API (" + why
                    + "): is --node the address of a harbor node?");
            default -> err().println("harbor: the node at " + node + " refused: " + why);
        }
        err().flush();
        return status.getCode() == Status.Code.INVALID_ARGUMENT ? 2 : 1;
    }
}
