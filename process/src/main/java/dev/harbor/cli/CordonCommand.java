package dev.harbor.cli;

import dev.harbor.proto.CordonRequest;
import picocli.CommandLine.Command;

/** {@code harbor cordon}: tells a node to take no new work (its health turns NOT_SERVING, for good). */
@Command(name = "cordon", mixinStandardHelpOptions = true, versionProvider = Main.Version.class, description = "Marks a node as taking no new work, for good: its gRPC health says NOT_SERVING, so load "
        + "balancers and readiness probes send it nothing new. Its services go on as before.")
final class CordonCommand extends NodeClientCommand {
    @Override
    public Integer call() {
        return unary(stub -> stub.cordon(CordonRequest.getDefaultInstance()), answer -> {
            out().println("node at " + node + " takes no new work: its health says NOT_SERVING");
            out().flush();
            return 0;
        }, TIMEOUT);
    }
}
