package dev.harbor.gateway;

import java.io.BufferedReader;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * A blocking client of the {@link Gateway} protocol, for programs and tests: one connection, frames in
 * and out. Not thread-safe: one thread sends, and one thread (the same or another) reads.
 */
public final class GatewayClient implements Closeable {
    private final Socket socket;
    private final BufferedReader in;
    private final OutputStream out;
    private final String session;

    /**
     * One frame from the server.
     *
     * @param id the request it answers, or 0 for a server frame ({@code * HELLO}, {@code * BYE}, {@code * ERR})
     * @param kind {@code OK} or {@code ERR} for an answer; {@code HELLO}, {@code BYE} or {@code ERR} for a server frame
     * @param text the rest of the line, possibly empty
     */
    public record Frame(long id, String kind, String text) {
        /** Whether the server says it is going down. */
        public boolean isBye() {
            return id == 0 && kind.equals("BYE");
        }

        static Frame parse(String line) {
            int sp = line.indexOf(' ');
            String head = sp < 0 ? line : line.substring(0, sp);
            String rest = sp < 0 ? "" : line.substring(sp + 1);
            int sp2 = rest.indexOf(' ');
            String kind = sp2 < 0 ? rest : rest.substring(0, sp2);
            String text = sp2 < 0 ? "" : rest.substring(sp2 + 1);
            if (head.equals("*")) {
                return new Frame(0, kind, text);
            }
            try {
                return new Frame(Long.parseLong(head), kind, text);
            } catch (NumberFormatException e) {
                throw new IllegalStateException("the gateway sent a frame this client cannot read: '" + line + "'");
            }
        }
    }

    private GatewayClient(Socket socket, BufferedReader in, String session) throws IOException {
        this.socket = socket;
        this.in = in;
        this.out = socket.getOutputStream();
        this.session = session;
    }

    /**
     * Connects and waits for the server's {@code * HELLO}.
     *
     * @param timeout for connecting, and for every read after (a read that waits longer throws
     *     {@link java.net.SocketTimeoutException})
     * @throws java.net.ConnectException if the gateway refuses the connection (it is not listening, or draining)
     * @throws IOException if the server closes or says anything but HELLO first (a draining gateway says BYE)
     */
    public static GatewayClient connect(InetSocketAddress address, Duration timeout) throws IOException {
        Socket s = new Socket();
        try {
            s.setTcpNoDelay(true);
            s.connect(address, (int) timeout.toMillis());
            s.setSoTimeout((int) timeout.toMillis());
            BufferedReader r = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
            String first = r.readLine();
            if (first == null || !first.startsWith("* HELLO ")) {
                throw new IOException("gateway " + address + " did not greet this client: " + (first == null ? "it closed" : first));
            }
            return new GatewayClient(s, r, first.substring("* HELLO ".length()));
        } catch (IOException | RuntimeException e) {
            s.close();
            throw e;
        }
    }

    /** The session id the server gave this connection. */
    public String session() {
        return session;
    }

    /** Sends one request {@code <id> <verb> [text]}. */
    public void send(long id, String verb, String text) throws IOException {
        String line = id + " " + verb + (text == null || text.isEmpty() ? "" : " " + text) + "\n";
        out.write(line.getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /** Sends a raw line (for tests of what the server does with bad input). */
    public void sendLine(String line) throws IOException {
        out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /** The next frame, or null once the server has closed the connection. */
    public Frame read() throws IOException {
        String line = in.readLine();
        return line == null ? null : Frame.parse(line);
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
