package dev.harbor.security;

import io.grpc.ChannelCredentials;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ServerCredentials;
import io.grpc.TlsChannelCredentials;
import io.grpc.TlsServerCredentials;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Objects;

/**
 * How a node and its clients secure their gRPC connections: plaintext ({@link #PLAINTEXT}), or TLS
 * from PEM files, with mutual TLS when clients must present a certificate that chains to the
 * cluster's CA. One setting serves both ends: the node's server (links from peers, the admin and
 * coordinator APIs) and every channel it or the command line opens (links to peers, the coordinator's
 * calls to nodes, exit subscribers), so a node presents the same certificate as server and as client.
 *
 * <p>Immutable. The PEM files are read when credentials are made, so a restart picks up rotated files.
 *
 * @param cert the certificate chain (PEM), leaf first; null for plaintext
 * @param key its private key (PEM, PKCS#8); null for plaintext
 * @param ca the CA certificates (PEM) peers' certificates must chain to; null: the JDK's default trust
 *     store for servers a client dials, and no client certificates checked by servers
 * @param clientAuth whether the server asks clients for a certificate
 */
public record Tls(Path cert, Path key, Path ca, ClientAuth clientAuth) {
    /** No TLS: plaintext connections. */
    public static final Tls PLAINTEXT = new Tls(null, null, null, ClientAuth.NONE);

    /** Whether a server asks its clients for a certificate. */
    public enum ClientAuth {
        /** It does not: TLS, but anyone may connect. */
        NONE,
        /** It asks, and checks a certificate it is given, but lets clients without one in. */
        OPTIONAL,
        /** Mutual TLS: a client without a certificate that chains to the CA is refused. */
        REQUIRE;

        /** {@code none}, {@code optional} or {@code require}, in any case. */
        public static ClientAuth parse(String text) {
            try {
                return valueOf(text.strip().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("expected none, optional or require, got '" + text + "'");
            }
        }
    }

    public Tls {
        Objects.requireNonNull(clientAuth, "clientAuth");
        if ((cert == null) != (key == null)) {
            throw new IllegalArgumentException("TLS needs both a certificate and its key (tls.cert and tls.key), or neither");
        }
        if (cert == null && (ca != null || clientAuth != ClientAuth.NONE)) {
            throw new IllegalArgumentException("tls.ca and tls.client-auth need TLS on: set tls.cert and tls.key too");
        }
        if (clientAuth != ClientAuth.NONE && ca == null) {
            throw new IllegalArgumentException("tls.client-auth=" + clientAuth.name().toLowerCase(Locale.ROOT)
                    + " needs tls.ca: the CA that clients' certificates must chain to");
        }
    }

    /** Whether connections are encrypted. */
    public boolean enabled() {
        return cert != null;
    }

    /**
     * Checks that every named file can be read, so a typo is reported at start with its key, not at the
     * first connection.
     *
     * @throws IllegalArgumentException naming the key and the file
     */
    public Tls checked() {
        check("tls.cert", cert);
        check("tls.key", key);
        check("tls.ca", ca);
        return this;
    }

    private static void check(String key, Path file) {
        if (file != null && !Files.isReadable(file)) {
            throw new IllegalArgumentException(key + ": cannot read " + file.toAbsolutePath() + ": give the path of a PEM file"
                    + " this process may read");
        }
    }

    /** Credentials for a server: plaintext, TLS, or mutual TLS. */
    public ServerCredentials serverCredentials() {
        if (!enabled()) {
            return InsecureServerCredentials.create();
        }
        try {
            TlsServerCredentials.Builder b = TlsServerCredentials.newBuilder().keyManager(cert.toFile(), key.toFile());
            if (ca != null) {
                b.trustManager(ca.toFile());
            }
            b.clientAuth(switch (clientAuth) {
                case NONE -> TlsServerCredentials.ClientAuth.NONE;
                case OPTIONAL -> TlsServerCredentials.ClientAuth.OPTIONAL;
                case REQUIRE -> TlsServerCredentials.ClientAuth.REQUIRE;
            });
            return b.build();
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("cannot load the node's TLS files (tls.cert " + cert + ", tls.key " + key
                    + (ca == null ? "" : ", tls.ca " + ca) + "): " + e.getMessage()
                    + ". They must be PEM: a certificate chain and its PKCS#8 private key", e);
        }
    }

    /** Credentials for a channel to a node: plaintext, or TLS presenting this certificate when there is one. */
    public ChannelCredentials channelCredentials() {
        return channel(ca, cert, key, "tls.ca " + ca + ", tls.cert " + cert + ", tls.key " + key);
    }

    /**
     * Client-side settings for a tool that is not a node (the command line): TLS if {@code ca} is given,
     * presenting {@code cert}/{@code key} if given too (for nodes that require client certificates).
     *
     * @throws IllegalArgumentException if a file cannot be loaded, or only one of cert and key is given
     */
    public static ChannelCredentials client(Path ca, Path cert, Path key) {
        if ((cert == null) != (key == null)) {
            throw new IllegalArgumentException("a client certificate needs its key: give both --tls-cert and --tls-key, or neither");
        }
        return channel(ca, cert, key, "--tls-ca " + ca + ", --tls-cert " + cert + ", --tls-key " + key);
    }

    private static ChannelCredentials channel(Path ca, Path cert, Path key, String files) {
        if (ca == null && cert == null) {
            return InsecureChannelCredentials.create();
        }
        try {
            TlsChannelCredentials.Builder b = TlsChannelCredentials.newBuilder();
            if (cert != null) {
                b.keyManager(cert.toFile(), key.toFile());
            }
            if (ca != null) {
                b.trustManager(ca.toFile());
            }
            return b.build();
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("cannot load the TLS files (" + files + "): " + e.getMessage()
                    + ". They must be PEM: a certificate chain, its PKCS#8 private key, the CA certificates", e);
        }
    }
}
