package dev.harbor.it;

import static dev.harbor.it.CoordinatedCluster.TOKEN;
import static dev.harbor.it.CoordinatedCluster.WAIT;
import static dev.harbor.it.CoordinatedCluster.relay;
import static dev.harbor.it.CoordinatedCluster.services;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.harbor.cli.Main;
import dev.harbor.proto.CoordinatorGrpc;
import dev.harbor.proto.KillRequest;
import dev.harbor.proto.PlanRequest;
import dev.harbor.proto.PlanResponse;
import dev.harbor.proto.ServiceInfo;
import dev.harbor.proto.ShutdownRequest;
import dev.harbor.security.BearerAuth;
import dev.harbor.security.MalformedRequests;
import dev.harbor.service.Handle;
import dev.harbor.service.Node;
import io.grpc.CallOptions;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

/**
 * Shutdowns that must not run, against three real node processes: without the token, with a wrong
 * token, with a cycle between roles, with a budget too small, with unknown node ids. Each is refused with
 * a status and a description that says why, and nothing is stopped: every node process is alive and
 * lists the services it had. Then the {@code harbor plan} and {@code harbor shutdown --dry-run} commands
 * against the same cluster: the printed plan, and exit code 0 when it fits, 1 when it is refused.
 */
@Timeout(150)
class ShutdownRefusalTest {
    /** gw-2 (20 s) -> writer-2 (20 s) -> stateless@2 (2 s) -> node@2 (5 s). */
    private static final long CRITICAL_PATH_MS = 20_000 + 20_000 + 2_000 + 5_000;
    /** The budget check's figure: the critical path plus 1 s per step on it to confirm a kill. */
    private static final long WORST_CASE_MS = CRITICAL_PATH_MS + 4 * 1_000;
    private static CoordinatedCluster c;
    private static Node driver;
    /** What each node listed once the cluster was up: its services by handle, with their names. */
    private static final Map<Integer, Map<String, List<String>>> baseline = new TreeMap<>();

    @BeforeAll
    static void start() {
        c = new CoordinatedCluster("refusals", 1, 2, 3);
        c.start(1, services(relay("relay-1")));
        c.start(2, services(c.registered("gw-2", "gateway", 20_000), c.registered("writer-2", "writer", 20_000), relay("relay-2"),
                "dev.harbor.it.Spawner(spawner-2)"));
        c.start(3, services(relay("relay-3")));
        driver = c.cluster.startDriver();
        c.awaitPlan(CoordinatedCluster.planWith(3, 2));
        await().atMost(WAIT).until(() -> driver.whereis("spawner-2").isPresent());
        for (int id = 1; id <= 3; id++) {
            baseline.put(id, listed(id));
        }
    }

    @AfterAll
    static void stop() {
        if (c != null) {
            c.close();
        }
    }

    private static Map<String, List<String>> listed(int id) {
        Map<String, List<String>> out = new TreeMap<>();
        for (ServiceInfo s : c.services(id)) {
            out.put(s.getHandle().getNode() + ":" + s.getHandle().getId(), s.getNamesList());
        }
        return out;
    }

    /** Nothing was stopped: every process is alive and lists what it had; no service was told to drain. */
    @AfterEach
    void nothingWasStopped() {
        for (int id = 1; id <= 3; id++) {
            assertThat(c.process(id).isAlive()).as("node %d's process", id).isTrue();
            assertThat(listed(id)).as("node %d's services", id).containsAllEntriesOf(baseline.get(id));
        }
        assertThat(c.journal.names("drain")).as("drained services").isEmpty();
    }

    /** Follows a Shutdown to its end; it must fail. */
    private static ProgressRecorder refused(String token, ShutdownRequest request) {
        ProgressRecorder r = new ProgressRecorder();
        c.coordinatorAsync(token).shutdown(request, r);
        r.awaitEnd(WAIT);
        assertThat(r.error).as("the Shutdown should have been refused; it streamed %s", r.items).isNotNull();
        assertThat(r.items).noneMatch(p -> p.hasStarted() || p.hasFinished() || p.hasReport());
        return r;
    }

    private static ShutdownRequest budget(int ms) {
        return ShutdownRequest.newBuilder().setBudgetMs(ms).build();
    }

    @Test
    void withoutTheTokenTheShutdownAndThePlanAreUnauthenticated() {
        ProgressRecorder r = refused(null, budget(120_000));
        assertThat(r.status().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
        assertThat(r.status().getDescription()).contains("authorization: Bearer <token>");
        assertThat(r.items).as("not even the plan is shown").isEmpty();
        assertThatThrownBy(() -> c.coordinator(null).plan(PlanRequest.getDefaultInstance()))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED));
    }

    @Test
    void withAWrongTokenTheShutdownIsUnauthenticated() {
        for (String wrong : List.of("not-the-token", TOKEN + "x", TOKEN.substring(1), "")) {
            ProgressRecorder r = refused(wrong, budget(120_000));
            assertThat(r.status().getCode()).as("token '%s'", wrong).isEqualTo(Status.Code.UNAUTHENTICATED);
            assertThat(r.status().getDescription()).as("token '%s'", wrong).contains("not the cluster's");
            assertThat(r.items).isEmpty();
        }
        assertThatThrownBy(() -> c.coordinator("nope").plan(PlanRequest.getDefaultInstance()))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED));
    }

    /** One raw-bytes call to the coordinator, sending {@code token} (none if null): its status. */
    private static Status rawCall(io.grpc.Channel channel, MethodDescriptor<?, ?> method, byte[] request, String token) {
        MethodDescriptor<byte[], byte[]> raw = MalformedRequests.rawBytes(method);
        CallOptions options = CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS);
        if (token != null) {
            options = options.withCallCredentials(BearerAuth.credentials(token));
        }
        try {
            if (raw.getType() == MethodDescriptor.MethodType.UNARY) {
                ClientCalls.blockingUnaryCall(channel, raw, options, request);
            } else {
                ClientCalls.blockingServerStreamingCall(channel, raw, options, request).next();
            }
            return Status.OK;
        } catch (StatusRuntimeException e) {
            return e.getStatus();
        }
    }

    @Test
    void hostileBytesToTheCoordinatorGetClearErrorsAndStopNothing() {
        java.util.Random random = new java.util.Random(0x5348555444L);
        io.grpc.Channel channel = c.cluster.channel(1);
        int cases = 0;
        // Without the token, whatever the bytes: UNAUTHENTICATED, before anything is parsed.
        for (int i = 0; i < 40; i++, cases++) {
            byte[] noise = new byte[random.nextInt(512)];
            random.nextBytes(noise);
            MethodDescriptor<?, ?> m = i % 2 == 0 ? CoordinatorGrpc.getShutdownMethod() : CoordinatorGrpc.getPlanMethod();
            Status s = rawCall(channel, m, noise, i % 4 < 2 ? null : "forged-" + i);
            assertThat(s.getCode()).as("case %d", i).isEqualTo(Status.Code.UNAUTHENTICATED);
            assertThat(s.getDescription()).isNotBlank();
        }
        // With the token, bytes that cannot be the request: INVALID_ARGUMENT with the parser's reason.
        byte[][] malformed = {
            {0x12, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x07, 1}, // a field claiming 2 GB
            {0x1a, 0x05, 0x01}, // a packed field cut short
            {0x0f, 0x00}, // wire type 7 does not exist
            {(byte) 0x80}, // a tag cut in the middle of its varint
        };
        for (byte[] bad : malformed) {
            for (MethodDescriptor<?, ?> m : List.of(CoordinatorGrpc.getShutdownMethod(), CoordinatorGrpc.getPlanMethod())) {
                cases++;
                Status s = rawCall(channel, m, bad, TOKEN);
                assertThat(s.getCode()).as("%s %s", m.getBareMethodName(), java.util.Arrays.toString(bad))
                        .isEqualTo(Status.Code.INVALID_ARGUMENT);
                assertThat(s.getDescription()).contains("is not a valid protobuf message of its request type");
            }
        }
        // Over the message limit (4 MiB by default): RESOURCE_EXHAUSTED, saying so.
        cases++;
        Status huge = rawCall(channel, CoordinatorGrpc.getShutdownMethod(), new byte[5 * 1024 * 1024], TOKEN);
        assertThat(huge.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
        assertThat(huge.getDescription()).contains("exceeds maximum size");
        assertThat(cases).isEqualTo(49);
    }

    @Test
    void aBudgetTooSmallForTheCriticalPathIsRefusedWithThePlanAndTheReason() {
        ProgressRecorder r = refused(TOKEN, budget(10_000));
        assertThat(r.status().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
        assertThat(r.status().getDescription()).startsWith("shutdown refused, nothing was touched: ")
                .contains("more than the budget of 10000 ms").contains("gateway:").contains("writer:");
        // The refusal still shows the plan it refused, with the same reason.
        assertThat(r.items).hasSize(1);
        PlanResponse plan = r.items.get(0).getPlan();
        assertThat(plan.getCriticalPathMs()).isEqualTo(CRITICAL_PATH_MS);
        assertThat(plan.getRefusal()).contains("more than the budget of 10000 ms");
        assertThat(plan.getBudgetMs()).isEqualTo(10_000);
    }

    @Test
    void theBudgetCheckUsesTheWorstCaseThePlanReports() {
        PlanResponse fits = c.coordinator(TOKEN).plan(PlanRequest.newBuilder().setBudgetMs((int) WORST_CASE_MS).build());
        assertThat(fits.getRefusal()).as("a budget of exactly the reported worst case").isEmpty();
        assertThat(fits.getWorstCaseMs()).isEqualTo(WORST_CASE_MS);
        assertThat(fits.getCriticalPathMs()).isEqualTo(CRITICAL_PATH_MS);
        assertThat(fits.getEscalationGraceMs()).isEqualTo(1_000);
        assertThat(fits.getEscalatableSteps()).isEqualTo(4);
        assertThat(fits.getWorstCaseMs()).isEqualTo(fits.getCriticalPathMs() + fits.getEscalatableSteps() * fits.getEscalationGraceMs());

        PlanResponse tooSmall = c.coordinator(TOKEN).plan(PlanRequest.newBuilder().setBudgetMs((int) WORST_CASE_MS - 1).build());
        assertThat(tooSmall.getRefusal()).contains("A budget of " + WORST_CASE_MS + " ms or more would pass")
                .contains("dominate it: gateway:").contains("20000 ms");
        Cli justEnough = harbor(withCoordinator("shutdown", "--dry-run", "--budget", WORST_CASE_MS + "ms"));
        assertThat(justEnough.exit()).as(justEnough.out()).isZero();
    }

    @Test
    void budgetsAndNodeIdsAtOrAbove2To31AreReadUnsigned() {
        // uint32 budgets: 2^31 ms and 2^32-1 ms are long budgets, not negative ones.
        PlanResponse big = c.coordinator(TOKEN).plan(PlanRequest.newBuilder().setBudgetMs(Integer.MIN_VALUE).build());
        assertThat(big.getRefusal()).isEmpty();
        assertThat(Integer.toUnsignedLong(big.getBudgetMs())).isEqualTo(2_147_483_648L);
        ProgressRecorder biggest = new ProgressRecorder();
        c.coordinatorAsync(TOKEN).shutdown(ShutdownRequest.newBuilder().setDryRun(true).setBudgetMs(-1).build(), biggest);
        biggest.awaitEnd(WAIT);
        assertThat(biggest.error).isNull();
        assertThat(biggest.items.get(0).getPlan().getRefusal()).isEmpty();
        assertThat(Integer.toUnsignedLong(biggest.items.get(0).getPlan().getBudgetMs())).isEqualTo(4_294_967_295L);
        Cli printed = harbor(withCoordinator("plan", "--budget", "4294967295ms"));
        assertThat(printed.exit()).as(printed.err()).isZero();
        assertThat(printed.out()).contains("budget 4294967295 ms").doesNotContain("-1 ms");
        Cli tooBig = harbor(withCoordinator("plan", "--budget", "4294967296ms"));
        assertThat(tooBig.exit()).isEqualTo(2);
        assertThat(tooBig.err()).contains("--budget: expected a positive duration of at most 4294967295ms");

        // uint32 node ids: shown unsigned in the refusal.
        for (int id : new int[] {Integer.MIN_VALUE, -1}) {
            ProgressRecorder r = refused(TOKEN, ShutdownRequest.newBuilder().setBudgetMs(120_000).addNodes(id).build());
            assertThat(r.status().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
            assertThat(r.status().getDescription()).contains("node id " + Integer.toUnsignedString(id) + " is out of range 1-65535");
            assertThatThrownBy(() -> c.coordinator(TOKEN).plan(PlanRequest.newBuilder().addNodes(id).build()))
                    .hasMessageContaining("node id " + Integer.toUnsignedString(id) + " is out of range");
        }
    }

    @Test
    void unknownNodeIdsAreRefusedAndOutOfRangeIdsAreInvalid() {
        ProgressRecorder unknown = refused(TOKEN, ShutdownRequest.newBuilder().setBudgetMs(120_000).addNodes(2).addNodes(9).build());
        assertThat(unknown.status().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
        assertThat(unknown.status().getDescription()).contains("unknown node id(s) [9]").contains("[1, 2, 3]");
        ProgressRecorder outOfRange = refused(TOKEN, ShutdownRequest.newBuilder().setBudgetMs(120_000).addNodes(70_000).build());
        assertThat(outOfRange.status().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(outOfRange.status().getDescription()).contains("node id 70000 is out of range");
    }

    @Test
    void aCycleBetweenRolesIsRefusedNamingIt() throws Exception {
        List<Handle> spawned = new ArrayList<>();
        try {
            for (String args : List.of("lobby-a;lobby;1000;matchmaker;exit;" + c.journal.file(),
                    "match-b;matchmaker;1000;lobby;exit;" + c.journal.file())) {
                Object h = driver.call("spawner-2", args, WAIT).get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
                spawned.add(Handle.parse((String) h));
            }
            c.awaitPlan(p -> p.getRefusal().contains("cycle"));

            ProgressRecorder r = refused(TOKEN, budget(120_000));
            assertThat(r.status().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
            assertThat(r.status().getDescription()).contains("cycle between roles: lobby -> matchmaker -> lobby");
            assertThat(r.items).hasSize(1);
            assertThat(r.items.get(0).getPlan().getRefusal()).contains("lobby -> matchmaker -> lobby");
            for (Handle h : spawned) {
                assertThat(c.services(2)).as("spawned %s still alive", h)
                        .anySatisfy(s -> assertThat(s.getHandle().getId()).isEqualTo(h.id()));
            }
        } finally {
            // Put the cluster back as it was for the other tests: without the cycle.
            for (Handle h : spawned) {
                c.cluster.admin(2).kill(KillRequest.newBuilder()
                        .setHandle(dev.harbor.proto.Handle.newBuilder().setNode(h.node()).setId(h.id())).build());
            }
            c.awaitPlan(CoordinatedCluster.planWith(3, 2));
        }
    }

    // ------------------------------------------------------------------ the command line

    private record Cli(int exit, String out, String err) {
    }

    private static Cli harbor(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int exit = cl.execute(args);
        return new Cli(exit, out.toString(), err.toString());
    }

    private static String[] withCoordinator(String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of("--coordinator", c.cluster.address(1), "--token-file", c.tokenFile.toString()));
        return all.toArray(String[]::new);
    }

    private static void assertPrintsThePlan(String out) {
        assertThat(out).contains("STEP").contains("KIND").contains("TIMEOUT");
        List<String> lines = out.lines().toList();
        // One line per step, in plan order: the gateway, the writer after it, the stateless steps, the nodes.
        int gw = indexOf(lines, "gateway:");
        int writer = indexOf(lines, "writer:");
        assertThat(lines.get(gw)).contains("DRAIN").contains("20000 ms");
        assertThat(writer).isGreaterThan(gw);
        assertThat(lines.get(writer)).contains("DRAIN").contains("gateway");
        for (int n = 1; n <= 3; n++) {
            assertThat(indexOf(lines, "stateless@" + n)).isGreaterThan(writer);
            assertThat(indexOf(lines, "node@" + n)).isGreaterThan(indexOf(lines, "stateless@" + n));
        }
        assertThat(out).contains("worst case " + WORST_CASE_MS + " ms = critical path " + CRITICAL_PATH_MS + " ms (gateway:")
                .contains("+ 4 steps x 1000 ms escalation grace");
    }

    private static int indexOf(List<String> lines, String start) {
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).startsWith(start)) {
                return i;
            }
        }
        throw new AssertionError("no line starts with " + start + " in:\n" + String.join("\n", lines));
    }

    @Test
    void harborPlanPrintsThePlanAndExitsZeroWhenItFitsAndOneWhenRefused() {
        Cli fits = harbor(withCoordinator("plan", "--budget", "2m"));
        assertThat(fits.exit()).as("out:%n%s%nerr:%n%s", fits.out(), fits.err()).isZero();
        assertPrintsThePlan(fits.out());
        assertThat(fits.out()).contains("budget 120000 ms").contains("the plan fits the budget");

        Cli tooSmall = harbor(withCoordinator("plan", "--budget", "10s"));
        assertThat(tooSmall.exit()).isEqualTo(1);
        assertPrintsThePlan(tooSmall.out());
        assertThat(tooSmall.out()).contains("REFUSED: the plan takes up to " + WORST_CASE_MS + " ms in the worst case")
                .contains("budget of 10000 ms").contains("A budget of " + WORST_CASE_MS + " ms or more would pass");

        Cli unknown = harbor(withCoordinator("plan", "--budget", "2m", "--nodes", "9"));
        assertThat(unknown.exit()).isEqualTo(1);
        assertThat(unknown.out()).contains("REFUSED: unknown node id(s) [9]");
    }

    @Test
    void harborShutdownDryRunPrintsThePlanAndTouchesNothing() {
        Cli fits = harbor(withCoordinator("shutdown", "--dry-run", "--budget", "2m"));
        assertThat(fits.exit()).as("out:%n%s%nerr:%n%s", fits.out(), fits.err()).isZero();
        assertPrintsThePlan(fits.out());
        assertThat(fits.out()).contains("the plan fits the budget").doesNotContain("started");

        Cli tooSmall = harbor(withCoordinator("shutdown", "--dry-run", "--budget", "10s"));
        assertThat(tooSmall.exit()).isEqualTo(1);
        assertPrintsThePlan(tooSmall.out());
        assertThat(tooSmall.out()).contains("REFUSED: the plan takes up to " + WORST_CASE_MS + " ms in the worst case");
    }

    @Test
    void theCommandLineWithAWrongOrMissingTokenFails() throws IOException {
        Path wrong = c.cluster.dir().resolve("wrong.token");
        Files.writeString(wrong, "not-the-token\n");
        Cli badToken = harbor("shutdown", "--budget", "2m", "--coordinator", c.cluster.address(1), "--token-file", wrong.toString());
        assertThat(badToken.exit()).isEqualTo(1);
        assertThat(badToken.err()).contains("harbor shutdown: the bearer token is not the cluster's");
        assertThat(badToken.out()).as("nothing started").doesNotContain("started");

        Cli badPlan = harbor("plan", "--coordinator", c.cluster.address(1), "--token-file", wrong.toString());
        assertThat(badPlan.exit()).isEqualTo(1);
        assertThat(badPlan.err()).contains("not the cluster's");

        if (System.getenv("HARBOR_COORDINATOR_TOKEN") == null) {
            Cli none = harbor("shutdown", "--coordinator", c.cluster.address(1));
            assertThat(none.exit()).as("bad usage").isEqualTo(2);
            assertThat(none.err()).contains("no token");
        }
    }
}
