package dev.harbor.cli;

import dev.harbor.proto.AbortRequest;
import java.time.Duration;
import picocli.CommandLine.Command;

/** {@code harbor abort}: ends every service of a node but its monitor. */
@Command(name = "abort", mixinStandardHelpOptions = true, versionProvider = Main.Version.class, description = "Ends every service of a node but its monitor (ABORTED); the node goes on running.")
final class AbortCommand extends NodeClientCommand {
    /** Ending a million services takes a while. */
    private static final Duration ABORT_TIMEOUT = Duration.ofSeconds(60);

    @Override
    public Integer call() {
        return unary(stub -> stub.abort(AbortRequest.getDefaultInstance()), answer -> {
            out().println("node at " + node + " aborted " + answer.getAborted() + " service(s); it goes on running");
            out().flush();
            return 0;
        }, ABORT_TIMEOUT);
    }
}
