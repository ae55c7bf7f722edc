package dev.harbor.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.harbor.gateway.GatewayClient.Frame;
import dev.harbor.proto.Drain;
import dev.harbor.service.DeferredReply;
import dev.harbor.service.ExitEvent;
import dev.harbor.service.ExitReason;
import dev.harbor.service.Handle;
import dev.harbor.service.Node;
import dev.harbor.shutdown.OrderedExit;
import java.io.IOException;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The gateway over real TCP connections: the client protocol, the drain, and how sessions end. */
class GatewayTest {
    private static final Duration WAIT = Duration.ofSeconds(10);

    private static final String PAD = "x".repeat(1000);
    private static final String HUGE = "x".repeat(64 * 1024);
    private Node node;
    private Handle gateway;
    private Gateway gatewayService;
    private InetSocketAddress address;
    /** Requests parked by HOLD, answered when the test says so. */
    private final Queue<DeferredReply> held = new ConcurrentLinkedQueue<>();
    private Handle holder;
    /** The summaries sessions saved on close, by session id. */
    private final Map<String, Session.SessionSummary> saved = new ConcurrentHashMap<>();

    /** ECHO answers its text; HOLD waits for the test; FAIL throws; close saves the summary. */
    private class TestSession implements Session {
        @Override
        public String request(dev.harbor.service.ServiceContext ctx, long id, String verb, String text) {
            return switch (verb) {
                case "ECHO" -> text;
                case "PAD" -> PAD; // a short request with a long answer
                case "HUGE" -> HUGE;
                case "HOLD" -> (String) ctx.call(holder, text, WAIT);
                case "FAIL" -> throw new IllegalArgumentException("failed on purpose: " + text);
                default -> throw new IllegalArgumentException("unknown verb " + verb);
            };
        }

        @Override
        public void close(dev.harbor.service.ServiceContext ctx, SessionSummary summary) {
            saved.put(summary.session(), summary);
        }
    }

    @BeforeEach
    void start() {
        node = Node.builder().id(1).build();
        holder = node.launch(() -> (ctx, msg) -> {
            held.add(msg.defer());
            return null;
        });
        gatewayService = new Gateway("127.0.0.1:0", s -> new TestSession(), Duration.ofSeconds(5));
        gateway = node.launch(() -> gatewayService);
        address = addressOf(gateway);
    }

    /** Where a gateway of the node listens, from its {@link Gateway#LISTEN_TAG}. */
    private InetSocketAddress addressOf(Handle g) {
        String listen = node.services().stream().filter(s -> s.handle().equals(g)).findFirst().orElseThrow()
                .tags().get(Gateway.LISTEN_TAG);
        return new InetSocketAddress("127.0.0.1", Integer.parseInt(listen.substring(listen.lastIndexOf(':') + 1)));
    }

    @AfterEach
    void stop() {
        node.stop();
        assertThat(node.services()).isEmpty();
    }

    private GatewayClient connect() throws IOException {
        return GatewayClient.connect(address, WAIT);
    }

    @Test
    void registersAsAGatewayAndTagsWhereItListens() {
        var info = node.services().stream().filter(s -> s.handle().equals(gateway)).findFirst().orElseThrow();
        assertThat(info.tags()).containsEntry(OrderedExit.ROLE_TAG, OrderedExit.GATEWAY)
                .containsEntry(OrderedExit.DRAIN_TIMEOUT_TAG, "5000")
                .containsEntry(Gateway.LISTEN_TAG, "127.0.0.1:" + address.getPort());
    }

    @Test
    void answersEachRequestOnceAndQuitSavesTheSession() throws IOException {
        try (GatewayClient c = connect()) {
            assertThat(c.session()).startsWith(":0001");
            c.send(1, "echo", "hello world");
            assertThat(c.read()).isEqualTo(new Frame(1, "OK", "hello world"));
            c.send(2, "FAIL", "x");
            assertThat(c.read()).isEqualTo(new Frame(2, "ERR", "failed on purpose: x"));
            c.send(2, "ECHO", "again");
            assertThat(c.read()).isEqualTo(new Frame(2, "ERR", "request ids must increase: 2 is not above 2"));
            c.sendLine("not a request");
            assertThat(c.read()).isEqualTo(new Frame(0, "ERR", "the request id must be a number from 1, got 'not'"));
            c.sendLine("7 SAY!");
            assertThat(c.read()).isEqualTo(new Frame(0, "ERR", "request 7: the verb must be a word of letters, got 'SAY!'"));
            c.send(9, "QUIT", "");
            assertThat(c.read()).isEqualTo(new Frame(9, "OK", "bye"));
            assertThat(c.read()).as("the server closes after the bye").isNull();
            await().atMost(WAIT).until(() -> saved.containsKey(c.session()));
            assertThat(saved.get(c.session())).isEqualTo(new Session.SessionSummary(c.session(), 4, 2, 2, "quit"));
        }
        await().atMost(WAIT).until(() -> node.services().stream().noneMatch(s -> s.handle().toString().equals(saved.keySet().iterator().next())));
    }

    @Test
    void quitWaitsForEveryEarlierRequest() throws IOException {
        try (GatewayClient c = connect()) {
            c.send(1, "HOLD", "a");
            c.send(2, "ECHO", "b");
            assertThat(c.read()).isEqualTo(new Frame(2, "OK", "b")); // answers may overtake a waiting request
            c.send(3, "QUIT", "");
            await().atMost(WAIT).until(() -> held.size() == 1);
            held.poll().reply("done a");
            assertThat(c.read()).isEqualTo(new Frame(1, "OK", "done a"));
            assertThat(c.read()).isEqualTo(new Frame(3, "OK", "bye"));
            assertThat(c.read()).isNull();
        }
    }

    @Test
    void drainRefusesNewConnectionsAnswersEveryRequestAndExitsLast() throws Exception {
        List<GatewayClient> clients = new ArrayList<>();
        try {
            for (int i = 0; i < 5; i++) {
                clients.add(connect());
            }
            GatewayClient busy = clients.get(0);
            busy.send(1, "HOLD", "in flight");
            await().atMost(WAIT).until(() -> held.size() == 1);
            CompletableFuture<ExitEvent> gatewayExit = node.watch(gateway);

            node.send(gateway, Drain.getDefaultInstance());

            // Every client is told, and a request sent after the BYE is answered ERR, never left silent.
            for (GatewayClient c : clients) {
                assertThat(c.read()).isEqualTo(new Frame(0, "BYE", "server going down"));
            }
            assertThatThrownBy(() -> connect()).as("a new connection during the drain").isInstanceOf(ConnectException.class);
            GatewayClient late = clients.get(1);
            late.send(1, "ECHO", "too late");
            assertThat(late.read()).isEqualTo(new Frame(1, "ERR", "session closing (server going down): not done"));
            for (GatewayClient c : clients.subList(1, clients.size())) {
                c.send(10, "QUIT", "");
                assertThat(c.read()).isEqualTo(new Frame(10, "OK", "bye"));
                assertThat(c.read()).isNull();
            }
            // The session with a request in flight waits for its answer; so does the gateway.
            busy.send(2, "QUIT", "");
            assertThat(gatewayExit).isNotDone();
            held.poll().reply("finally");
            assertThat(busy.read()).isEqualTo(new Frame(1, "OK", "finally"));
            assertThat(busy.read()).isEqualTo(new Frame(2, "OK", "bye"));
            assertThat(busy.read()).isNull();

            ExitEvent exit = gatewayExit.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
            assertThat(exit.reason()).isEqualTo(ExitReason.EXIT);
            assertThat(saved).hasSize(5).allSatisfy((s, summary) -> assertThat(summary.why()).isEqualTo("server going down"));
            assertThat(saved.get(busy.session()).answeredOk()).isEqualTo(2);
            assertThat(saved.get(late.session())).isEqualTo(new Session.SessionSummary(late.session(), 2, 1, 1, "server going down"));
            assertThat(node.services()).as("no gateway or session left").extracting(s -> String.valueOf(s.type()))
                    .doesNotContain(Gateway.class.getName(), SessionAgent.class.getName());
        } finally {
            for (GatewayClient c : clients) {
                c.close();
            }
        }
    }

    /**
     * Once a drained gateway has exited, a new connection is refused: never accepted by the kernel
     * into a listener the JDK had not yet closed, and then reset (seen once in CI as a reset where
     * {@link #drainRefusesNewConnectionsAnswersEveryRequestAndExitsLast} expects a refusal; without
     * the drain waiting for the listener's socket, a round failed here, the 29th, in the one run tried).
     */
    @Test
    void aDrainedGatewayRefusesConnectionsAsSoonAsItHasExited() throws Exception {
        for (int round = 0; round < 100; round++) {
            Handle g = node.launch(() -> new Gateway("127.0.0.1:0", s -> new TestSession(), Duration.ofSeconds(5)));
            InetSocketAddress where = addressOf(g);
            CompletableFuture<ExitEvent> exit = node.watch(g);
            node.send(g, Drain.getDefaultInstance());
            assertThat(exit.get(WAIT.toMillis(), TimeUnit.MILLISECONDS).reason()).isEqualTo(ExitReason.EXIT);
            int r = round;
            assertThatThrownBy(() -> GatewayClient.connect(where, WAIT)).as("a connection after the drain, round %d", r)
                    .isInstanceOf(ConnectException.class);
        }
    }

    @Test
    void aClientThatNeverQuitsIsClosedAfterItsGrace() throws Exception {
        try (GatewayClient c = connect()) {
            CompletableFuture<ExitEvent> gatewayExit = node.watch(gateway);
            long start = System.nanoTime();
            node.send(gateway, Drain.getDefaultInstance());
            assertThat(c.read()).isEqualTo(new Frame(0, "BYE", "server going down"));
            assertThat(c.read()).isNull();
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThanOrEqualTo(SessionAgent.QUIT_GRACE);
            assertThat(gatewayExit.get(WAIT.toMillis(), TimeUnit.MILLISECONDS).reason()).isEqualTo(ExitReason.EXIT);
            assertThat(saved.get(c.session()).why()).isEqualTo("server going down");
        }
    }

    @Test
    void aClientThatGoesAwayHasItsSessionSaved() throws IOException {
        String session;
        try (GatewayClient c = connect()) {
            session = c.session();
            c.send(1, "ECHO", "x");
            assertThat(c.read()).isEqualTo(new Frame(1, "OK", "x"));
        }
        await().atMost(WAIT).until(() -> saved.containsKey(session));
        assertThat(saved.get(session)).isEqualTo(new Session.SessionSummary(session, 1, 1, 0, "disconnected"));
    }

    @Test
    void aLineTooLongIsRefusedAndTheConnectionClosed() throws IOException {
        try (GatewayClient c = connect()) {
            c.sendLine("1 ECHO " + "x".repeat(Gateway.MAX_LINE + 10));
            assertThat(c.read()).isEqualTo(new Frame(0, "ERR", "line longer than 4096 bytes; closing the connection"));
            assertThat(c.read()).isNull();
        }
    }

    @Test
    void aPipeliningClientGetsEveryAnswer() throws Exception {
        int n = 5_000; // many more than the read high-water mark: reading pauses and resumes
        try (GatewayClient c = connect()) {
            CompletableFuture<Void> sending = CompletableFuture.runAsync(() -> {
                try {
                    for (int i = 1; i <= n; i++) {
                        c.send(i, "ECHO", Integer.toString(i));
                    }
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            for (int i = 1; i <= n; i++) {
                assertThat(c.read()).isEqualTo(new Frame(i, "OK", Integer.toString(i)));
            }
            sending.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    @Test
    void killingTheGatewayClosesItsListenerAndConnections() throws IOException {
        try (GatewayClient c = connect()) {
            node.kill(gateway);
            assertThat(c.read()).as("connection closed with the gateway's event loops").isNull();
            await().atMost(WAIT).untilAsserted(() -> assertThatThrownBy(this::connect).isInstanceOf(ConnectException.class));
            await().atMost(WAIT).until(() -> saved.containsKey(c.session()));
        }
    }

    /**
     * The gateway ends while a session is starting, and its event loops have stopped before the agent
     * greets the client and starts reading (seen once in CI: the start then failed, and the session was
     * never saved). The session begins all the same and ends as one whose client went away.
     */
    @Test
    void aSessionWhoseGatewayEndedWhileItStartedIsStillSaved() throws IOException {
        node.stop();
        node = Node.builder().id(1).build();
        Gateway[] ending = new Gateway[1];
        Handle[] endingHandle = new Handle[1];
        ending[0] = new Gateway("127.0.0.1:0", s -> new TestSession() {
            @Override
            public void start(dev.harbor.service.ServiceContext ctx) {
                node.kill(endingHandle[0]);
                await().atMost(WAIT).until(ending[0]::loopsStopped);
            }
        }, Duration.ofSeconds(5));
        endingHandle[0] = node.launch(() -> ending[0]);
        String listen = node.services().stream().filter(s -> s.handle().equals(endingHandle[0])).findFirst().orElseThrow()
                .tags().get(Gateway.LISTEN_TAG);
        try (Socket s = new Socket("127.0.0.1", Integer.parseInt(listen.substring(listen.lastIndexOf(':') + 1)))) {
            s.setSoTimeout((int) WAIT.toMillis());
            assertThat(s.getInputStream().read()).as("closed by the gateway's end, before any greeting").isEqualTo(-1);
        }
        await().atMost(WAIT).until(() -> saved.size() == 1);
        assertThat(saved.values().iterator().next().why()).isEqualTo("disconnected");
        await().atMost(WAIT).until(() -> node.services().stream().noneMatch(s -> s.type().equals(SessionAgent.class.getName())));
    }

    @Test
    void rawGarbageGetsErrorsAndTheGatewayLivesOn() throws IOException {
        try (Socket s = new Socket(address.getAddress(), address.getPort())) {
            s.setSoTimeout((int) WAIT.toMillis());
            OutputStream out = s.getOutputStream();
            var in = new java.io.BufferedReader(new java.io.InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
            assertThat(in.readLine()).startsWith("* HELLO ");
            out.write(new byte[] {(byte) 0xff, (byte) 0xfe, 0, 1, 2, '\n'});
            out.write("\n".getBytes(StandardCharsets.UTF_8));
            out.flush();
            assertThat(in.readLine()).startsWith("* ERR ");
            assertThat(in.readLine()).startsWith("* ERR ");
        }
        try (GatewayClient c = connect()) {
            c.send(1, "ECHO", "still here");
            assertThat(c.read()).isEqualTo(new Frame(1, "OK", "still here"));
        }
    }

    /**
     * Fuzz-style: {@value #FUZZ_LINES} lines from a fixed seed (random bytes, invalid UTF-8, control
     * characters, numbers out of range, verbs that are not words) on one connection. Each line gets
     * exactly one frame back, the session and the gateway live on, and a well-behaved client is served after.
     */
    @Test
    void fuzzedLinesEachGetOneAnswerAndChangeNothing() throws Exception {
        java.util.Random random = new java.util.Random(20261126L);
        String[] shapes = {"%d ECHO %s", "%d %s", "%s", "-%d ECHO x", "%d9999999999999999999 ECHO", "%d FAIL %s", "%d echo"};
        int before = node.services().size();
        try (Socket s = new Socket(address.getAddress(), address.getPort())) {
            s.setSoTimeout((int) WAIT.toMillis());
            OutputStream out = s.getOutputStream();
            var in = new java.io.BufferedReader(new java.io.InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
            assertThat(in.readLine()).startsWith("* HELLO ");
            long id = 0;
            for (int i = 0; i < FUZZ_LINES; i++) {
                byte[] line;
                if (random.nextBoolean()) {
                    line = new byte[random.nextInt(200)];
                    random.nextBytes(line);
                    for (int j = 0; j < line.length; j++) {
                        if (line[j] == '\n' || line[j] == '\r') {
                            line[j] = '?';
                        }
                    }
                } else {
                    String junk = Long.toString(random.nextLong(), 36);
                    String text = String.format(shapes[random.nextInt(shapes.length)], ++id, junk);
                    line = text.getBytes(StandardCharsets.UTF_8);
                }
                String decoded = new String(line, StandardCharsets.UTF_8);
                if (decoded.matches("(?is)\\S+ +(QUIT|HOLD)( .*)?")) {
                    line = "x".getBytes(StandardCharsets.UTF_8); // would end the session or wait for the test
                }
                byte[] framed = java.util.Arrays.copyOf(line, line.length + 1);
                framed[line.length] = '\n';
                out.write(framed); // one write: with Nagle on, a second small one would wait for a delayed ACK
                out.flush();
                String answer = in.readLine();
                assertThat(answer).as("answer to fuzz line " + i).isNotNull().matches("(\\* ERR |\\d+ (OK|ERR)).*");
            }
            assertThat(node.services()).as("one session more, nothing else").hasSize(before + 1);
        }
        try (GatewayClient c = connect()) {
            c.send(1, "ECHO", "after the fuzz");
            assertThat(c.read()).isEqualTo(new Frame(1, "OK", "after the fuzz"));
        }
    }

    /**
     * 100 clients that pipeline requests with long answers and never read them: the gateway stops
     * reading from each once its answers back up, so what it holds per connection stays bounded and
     * the node's heap does not grow with what they send, while another client is served as usual.
     */
    @Test
    void clientsThatNeverReadTheirAnswersCannotGrowTheNode() throws Exception {
        int clients = 100;
        int requestsEach = 10_000; // 10 MB of answers each, far more than the socket buffers take
        java.lang.management.MemoryMXBean memory = java.lang.management.ManagementFactory.getMemoryMXBean();
        long heapBefore = heapAfterGc(memory);
        List<java.nio.channels.SocketChannel> stalled = new ArrayList<>();
        try {
            for (int i = 0; i < clients; i++) {
                var ch = java.nio.channels.SocketChannel.open();
                ch.setOption(java.net.StandardSocketOptions.SO_RCVBUF, 64 * 1024); // a small window: its answers back up soon
                ch.connect(address);
                ch.configureBlocking(false);
                stalled.add(ch);
            }
            StringBuilder requests = new StringBuilder();
            for (int id = 1; id <= requestsEach; id++) {
                requests.append(id).append(" PAD\n");
            }
            long written = writeWhileTaken(stalled, requests.toString().getBytes(StandardCharsets.UTF_8));

            try (GatewayClient c = connect()) {
                c.send(1, "ECHO", "served while 100 others stall");
                assertThat(c.read()).isEqualTo(new Frame(1, "OK", "served while 100 others stall"));
            }
            List<Long> queued = gatewayService.queuedOutput();
            long heapAfter = heapAfterGc(memory);
            org.slf4j.LoggerFactory.getLogger(GatewayTest.class).info(
                    "{} clients not reading: {} request bytes taken of {}; output queued per connection max {} bytes, total {};"
                            + " heap after GC {} MB before, {} MB after", clients, written, (long) clients * requests.length(),
                    queued.stream().mapToLong(Long::longValue).max().orElse(0), queued.stream().mapToLong(Long::longValue).sum(),
                    heapBefore >> 20, heapAfter >> 20);
            assertThat(queued).as("output queued per connection").hasSizeGreaterThanOrEqualTo(clients)
                    .allSatisfy(bytes -> assertThat(bytes).isLessThanOrEqualTo(Connection.MAX_QUEUED_OUTPUT));
            assertThat(heapAfter - heapBefore).as("heap grown by the stalled clients").isLessThan(64L << 20);
        } finally {
            for (var ch : stalled) {
                ch.close();
            }
        }
    }

    /** Answers too long to hold for a client that does not read them: the connection is closed and the session saved. */
    @Test
    void aClientThatDoesNotReadLongAnswersIsDisconnected() throws Exception {
        try (Socket s = new Socket()) {
            s.setReceiveBufferSize(64 * 1024);
            s.connect(address);
            s.setSoTimeout((int) WAIT.toMillis());
            var in = new java.io.BufferedReader(new java.io.InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
            String hello = in.readLine();
            assertThat(hello).startsWith("* HELLO ");
            String session = hello.substring("* HELLO ".length());
            StringBuilder requests = new StringBuilder();
            for (int id = 1; id <= 300; id++) {
                requests.append(id).append(" HUGE\n"); // 19 MB of answers, which the client never reads
            }
            s.getOutputStream().write(requests.toString().getBytes(StandardCharsets.UTF_8));
            s.getOutputStream().flush();
            await().atMost(WAIT).until(() -> saved.containsKey(session));
            assertThat(saved.get(session).why()).isEqualTo("disconnected");
        }
    }

    private static long heapAfterGc(java.lang.management.MemoryMXBean memory) {
        System.gc();
        return memory.getHeapMemoryUsage().getUsed();
    }

    /**
     * Writes {@code bytes} to every channel for as long as the other end takes them: until all is
     * written, or no channel has taken anything for a second (the gateway stopped reading), at most 60 s.
     *
     * @return the bytes written in all
     */
    private static long writeWhileTaken(List<java.nio.channels.SocketChannel> channels, byte[] bytes) throws IOException {
        long total = 0;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        try (var selector = java.nio.channels.Selector.open()) {
            for (var ch : channels) {
                ch.register(selector, java.nio.channels.SelectionKey.OP_WRITE, java.nio.ByteBuffer.wrap(bytes));
            }
            while (!selector.keys().isEmpty() && System.nanoTime() < deadline && selector.select(1_000) > 0) {
                for (var key : selector.selectedKeys()) {
                    var buffer = (java.nio.ByteBuffer) key.attachment();
                    total += ((java.nio.channels.SocketChannel) key.channel()).write(buffer);
                    if (!buffer.hasRemaining()) {
                        key.cancel();
                    }
                }
                selector.selectedKeys().clear();
            }
        }
        return total;
    }

    static final int FUZZ_LINES = 2_000;
}
