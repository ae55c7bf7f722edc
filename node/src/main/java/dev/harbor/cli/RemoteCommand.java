package dev.harbor.cli;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * A command that talks to a harbor node over gRPC: its output streams and the check of a host:port
 * option. Extended by the node's admin commands and by the coordinator's.
 */
public abstract class RemoteCommand implements Callable<Integer> {
    @Spec
    protected CommandSpec spec;

    protected PrintWriter out() {
        return spec.commandLine().getOut();
    }

    protected PrintWriter err() {
        return spec.commandLine().getErr();
    }

    /**
     * {@code value}, checked to be host:port.
     *
     * @throws ParameterException naming {@code option} and what it expects
     */
    protected String hostPort(String option, String value) {
        int colon = value.lastIndexOf(':');
        boolean ok = colon > 0 && colon < value.length() - 1;
        if (ok) {
            try {
                int port = Integer.parseInt(value.substring(colon + 1));
                ok = port >= 1 && port <= 65535;
            } catch (NumberFormatException e) {
                ok = false;
            }
        }
        if (!ok) {
            throw new ParameterException(spec.commandLine(), option + ": expected host:port (the node's node.advertise), got '"
                    + value + "'");
        }
        return value;
    }
}
