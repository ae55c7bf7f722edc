package dev.harbor.it;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A throwaway certificate authority made at test time with the JDK's own {@code keytool}: an EC CA, and
 * certificates it issues for loopback ({@code 127.0.0.1}, {@code localhost}) that serve both as server
 * and as client certificates, written as the PEM files a node's {@code tls.*} keys name. Nothing here is
 * a secret worth keeping; every file lives in the test's own directory.
 */
final class TestCa {
    private static final String PASSWORD = "throwaway";
    private final Path dir;
    private final String name;
    private final Path keystore;
    /** The CA's certificate (PEM): what {@code tls.ca} names. */
    final Path certificate;

    /** The files of one issued certificate: {@code tls.cert} (the chain, leaf first) and {@code tls.key} (PKCS#8). */
    record Issued(Path cert, Path key) {
    }

    private TestCa(Path dir, String name) {
        this.dir = dir;
        this.name = name;
        this.keystore = dir.resolve(name + "-ca.p12");
        this.certificate = dir.resolve(name + "-ca.pem");
    }

    /** Makes a new CA called {@code name} in {@code dir}. */
    static TestCa create(Path dir, String name) {
        TestCa ca = new TestCa(dir, name);
        keytool("-genkeypair", "-alias", "ca", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=" + name + " test CA",
                "-ext", "bc:c", "-validity", "2", "-keystore", ca.keystore.toString(), "-storepass", PASSWORD);
        keytool("-exportcert", "-rfc", "-alias", "ca", "-keystore", ca.keystore.toString(), "-storepass", PASSWORD, "-file",
                ca.certificate.toString());
        return ca;
    }

    /** Issues a certificate for {@code cn}, valid for 127.0.0.1 and localhost, as server and as client. */
    Issued issue(String cn) {
        Path p12 = dir.resolve(name + "-" + cn + ".p12");
        Path csr = dir.resolve(name + "-" + cn + ".csr");
        Path leaf = dir.resolve(name + "-" + cn + "-leaf.pem");
        keytool("-genkeypair", "-alias", cn, "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=" + cn, "-validity", "2",
                "-keystore", p12.toString(), "-storepass", PASSWORD);
        keytool("-certreq", "-alias", cn, "-keystore", p12.toString(), "-storepass", PASSWORD, "-file", csr.toString());
        keytool("-gencert", "-rfc", "-alias", "ca", "-keystore", keystore.toString(), "-storepass", PASSWORD, "-infile",
                csr.toString(), "-outfile", leaf.toString(), "-validity", "2", "-ext", "san=ip:127.0.0.1,dns:localhost",
                "-ext", "eku=serverAuth,clientAuth");
        Issued out = new Issued(dir.resolve(name + "-" + cn + ".pem"), dir.resolve(name + "-" + cn + ".key"));
        try {
            Files.writeString(out.cert(), Files.readString(leaf) + Files.readString(certificate));
            KeyStore ks = KeyStore.getInstance("PKCS12");
            try (InputStream in = Files.newInputStream(p12)) {
                ks.load(in, PASSWORD.toCharArray());
            }
            PrivateKey key = (PrivateKey) ks.getKey(cn, PASSWORD.toCharArray());
            // getEncoded() of a JDK private key is PKCS#8, the form the node's tls.key wants.
            Files.writeString(out.key(), "-----BEGIN PRIVATE KEY-----\n"
                    + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(key.getEncoded())
                    + "\n-----END PRIVATE KEY-----\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException("cannot read the key keytool made for " + cn + ": " + e, e);
        }
        return out;
    }

    private static void keytool(String... args) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
        command.add("-noprompt");
        command.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IllegalStateException("keytool " + String.join(" ", args) + " failed: " + output);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while keytool ran", e);
        }
    }
}
