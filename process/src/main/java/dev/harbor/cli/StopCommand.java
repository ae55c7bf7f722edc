package dev.harbor.cli;

import dev.harbor.proto.StopRequest;
import picocli.CommandLine.Command;

/** {@code harbor stop}: stops a node process gracefully. */
@Command(name = "stop", mixinStandardHelpOptions = true, versionProvider = Main.Version.class, description = "Stops a node: every service ends (NODE_STOPPED), subscribers get every exit event, then the process exits 0.")
final class StopCommand extends NodeClientCommand {
    @Override
    public Integer call() {
        return unary(stub -> stub.stop(StopRequest.getDefaultInstance()), answer -> {
            out().println("node at " + node + " is stopping: every service ends, then the process exits");
            out().flush();
            return 0;
        }, TIMEOUT);
    }
}
