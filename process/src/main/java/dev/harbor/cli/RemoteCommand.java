package dev.harbor.cli;

import dev.harbor.security.BearerAuth;
import dev.harbor.security.Tls;
import io.grpc.CallCredentials;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * A command that talks to a harbor node over gRPC: its output streams, the check of a host:port
 * option, the TLS options ({@code --tls-ca}, {@code --tls-cert}, {@code --tls-key}, or the
 * {@code HARBOR_TLS_CA}, {@code HARBOR_TLS_CERT} and {@code HARBOR_TLS_KEY} variables a node uses too)
 * and the cluster's token ({@code --token-file} or {@code HARBOR_COORDINATOR_TOKEN}). Extended by the
 * node's admin commands and by the coordinator's.
 */
public abstract class RemoteCommand implements Callable<Integer> {
    /** The variable that holds the cluster's token when no --token-file is given. */
    public static final String TOKEN_VARIABLE = NodeConfig.envName(NodeConfig.TOKEN);

    @Spec
    protected CommandSpec spec;

    @Option(names = "--tls-ca", paramLabel = "PEM", defaultValue = "${env:HARBOR_TLS_CA}",
            description = "Connect with TLS, trusting this CA's certificates (PEM). Default: the HARBOR_TLS_CA variable; none: plaintext.")
    Path tlsCa;

    @Option(names = "--tls-cert", paramLabel = "PEM", defaultValue = "${env:HARBOR_TLS_CERT}",
            description = "The client certificate (PEM) for nodes that require one (mutual TLS). Default: HARBOR_TLS_CERT.")
    Path tlsCert;

    @Option(names = "--tls-key", paramLabel = "PEM", defaultValue = "${env:HARBOR_TLS_KEY}",
            description = "The client certificate's PKCS#8 private key (PEM). Default: HARBOR_TLS_KEY.")
    Path tlsKey;

    @Option(names = "--token-file", paramLabel = "FILE",
            description = "A file holding the cluster's bearer token. Default: the HARBOR_COORDINATOR_TOKEN variable.")
    protected Path tokenFile;

    protected PrintWriter out() {
        return spec.commandLine().getOut();
    }

    protected PrintWriter err() {
        return spec.commandLine().getErr();
    }

    /**
     * A channel to {@code target}, plaintext or TLS as the TLS options say.
     *
     * @throws ParameterException if the TLS files cannot be loaded
     */
    protected ManagedChannel channel(String target, int maxInboundBytes) {
        return Grpc.newChannelBuilder(target, credentials()).maxInboundMessageSize(maxInboundBytes).build();
    }

    /** The credentials the TLS options say (plaintext without them). */
    protected ChannelCredentials credentials() {
        try {
            return Tls.client(tlsCa, tlsCert, tlsKey);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
    }

    /** The cluster's token from --token-file or the variable; null if neither is given. */
    protected String tokenOrNull() {
        try {
            String t = tokenFile != null ? Files.readString(tokenFile).strip() : System.getenv(TOKEN_VARIABLE);
            return t == null || t.isBlank() ? null : t.strip();
        } catch (IOException e) {
            throw new ParameterException(spec.commandLine(), "--token-file: cannot read " + tokenFile + ": " + e.getMessage());
        }
    }

    /** The token as call credentials, or null if none is given. */
    protected CallCredentials tokenCredentials() {
        String t = tokenOrNull();
        return t == null ? null : BearerAuth.credentials(t);
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
