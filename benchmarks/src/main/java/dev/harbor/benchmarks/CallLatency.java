package dev.harbor.benchmarks;

import dev.harbor.service.Handle;
import dev.harbor.service.Node;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractMatchingBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Local request/response round trip: Harbor's call against Pekko's ask (or request/reply).
 *
 * <p>Each runtime runs one <i>echo</i> that answers every request with its payload, and one
 * <i>caller</i> inside the runtime. The payload is the same preallocated {@code String} for both.
 *
 * <ul>
 *   <li>{@link #fromOutside}: the benchmark thread calls the echo and blocks for the answer. Harbor:
 *       {@code node.call(echo, payload, null).get(...)}. Pekko:
 *       {@code AskPattern.ask(echo, replyTo -> new Ping(payload, replyTo), timeout, scheduler)}; the ask
 *       always arms its timeout on Pekko's scheduler (it has no "no timeout" form), while the Harbor
 *       call is made without one, as Harbor allows. Sampled, so the output has p50 and p99.</li>
 *   <li>{@link #fromService}: the round trip inside the runtime. The benchmark thread triggers a burst
 *       of {@link #CALLS} sequential calls made by the caller and waits for the burst to end. Harbor:
 *       the caller's handler runs {@code ctx.call(echo, payload)} in a loop (each call suspends the
 *       handler's virtual thread until the reply). Pekko: the caller tells the echo a
 *       {@code Ping(payload, self)} and sends the next one when the reply arrives, the cheapest
 *       request/reply Pekko has (no temporary actor or timeout per request, unlike
 *       {@code context.ask}). Average time per call.</li>
 * </ul>
 */
@State(Scope.Benchmark)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 2, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
@Warmup(iterations = 3, time = 3)
@Measurement(iterations = 5, time = 3)
public class CallLatency {

    /** Calls per burst in {@link #fromService}. */
    static final int CALLS = 1_000;
    /** The payload of every request and reply, for both runtimes. */
    static final String PAYLOAD = "ping";
    /** The timeout Pekko's ask requires; never reached by a healthy run. */
    static final Duration ASK_TIMEOUT = BenchSupport.TIMEOUT;

    @Param({"harbor", "pekko"})
    public String runtime;

    private Rig rig;

    @Setup(Level.Trial)
    public void start() {
        rig = switch (runtime) {
            case "harbor" -> new HarborRig();
            case "pekko" -> new PekkoRig();
            default -> throw new IllegalArgumentException("unknown runtime '" + runtime + "': use harbor or pekko");
        };
    }

    @TearDown(Level.Trial)
    public void stop() {
        rig.close();
    }

    /** One call from the benchmark thread (outside the runtime) to the echo, waiting for its reply. */
    @Benchmark
    @BenchmarkMode(Mode.SampleTime)
    public Object fromOutside() {
        return rig.callFromOutside();
    }

    /** One call from a service/actor to another, measured over a burst of {@link #CALLS} calls. */
    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OperationsPerInvocation(CALLS)
    public Object fromService() {
        return rig.burstFromInside();
    }

    /** One runtime with its echo and its caller. */
    interface Rig extends AutoCloseable {
        /** Calls the echo from this thread; returns the reply. */
        Object callFromOutside();

        /** Makes the caller call the echo {@link #CALLS} times in a row; returns the last reply. */
        Object burstFromInside();

        @Override
        void close();
    }

    /** Tells a caller to make a burst of calls. */
    record Burst(int calls) {
    }

    private static final Burst BURST = new Burst(CALLS);

    // ------------------------------------------------------------------ Harbor

    static final class HarborRig implements Rig {
        private final Node node = Node.builder().id(1).build();
        private final Handle echo;
        private final Handle caller;

        HarborRig() {
            echo = node.launch(() -> (ctx, m) -> m.payload());
            Handle target = echo;
            // The burst itself is a call: its reply, the last echo, ends the burst.
            caller = node.launch(() -> (ctx, m) -> {
                int calls = m.payload(Burst.class).calls();
                Object reply = null;
                for (int i = 0; i < calls; i++) {
                    reply = ctx.call(target, PAYLOAD);
                }
                return reply;
            });
        }

        @Override
        public Object callFromOutside() {
            return BenchSupport.get(node.call(echo, PAYLOAD, null), "a Harbor call to the echo");
        }

        @Override
        public Object burstFromInside() {
            return BenchSupport.get(node.call(caller, BURST, null), "a burst of Harbor calls");
        }

        @Override
        public void close() {
            node.stop();
        }
    }

    // ------------------------------------------------------------------ Pekko

    /** A request to the Pekko echo: what to echo, and where to. */
    record Ping(Object payload, ActorRef<Object> replyTo) {
    }

    /** A burst for the Pekko caller, with the future its last reply completes. */
    record PekkoBurst(Burst burst, CompletableFuture<Object> done) {
    }

    /** The Pekko caller: sends a ping, waits for its reply, sends the next, until the burst is done. */
    static final class PekkoCaller extends AbstractMatchingBehavior<Object> {
        private final ActorRef<Ping> echo;
        private PekkoBurst burst;
        private int left;

        PekkoCaller(ActorContext<Object> context, ActorRef<Ping> echo) {
            super(context);
            this.echo = echo;
        }

        @Override
        public Behavior<Object> onMessage(Object message) {
            if (message instanceof PekkoBurst b) {
                burst = b;
                left = b.burst().calls();
                echo.tell(new Ping(PAYLOAD, getContext().getSelf()));
            } else if (--left > 0) {
                echo.tell(new Ping(PAYLOAD, getContext().getSelf()));
            } else {
                burst.done().complete(message);
            }
            return this;
        }
    }

    static final class PekkoRig implements Rig {
        private final ActorSystem<Void> system;
        private final ActorRef<Ping> echo;
        private final ActorRef<Object> caller;

        /** The two actors, as the guardian spawned them. */
        private record Spawned(ActorRef<Ping> echo, ActorRef<Object> caller) {
        }

        PekkoRig() {
            CompletableFuture<Spawned> spawned = new CompletableFuture<>();
            // The guardian spawns the echo and the caller as its children, then does nothing.
            system = ActorSystem.create(Behaviors.<Void>setup(ctx -> {
                ActorRef<Ping> e = ctx.spawn(Behaviors.receiveMessage(ping -> {
                    ping.replyTo().tell(ping.payload());
                    return Behaviors.same();
                }), "echo");
                ActorRef<Object> c = ctx.spawn(Behaviors.setup(context -> new PekkoCaller(context, e)), "caller");
                spawned.complete(new Spawned(e, c));
                return Behaviors.empty();
            }), "call-latency", BenchSupport.PEKKO_CONFIG);
            Spawned actors = BenchSupport.get(spawned, "spawning the Pekko echo and caller");
            echo = actors.echo();
            caller = actors.caller();
        }

        @Override
        public Object callFromOutside() {
            return BenchSupport.get(AskPattern.<Ping, Object>ask(echo, replyTo -> new Ping(PAYLOAD, replyTo),
                    ASK_TIMEOUT, system.scheduler()).toCompletableFuture(), "a Pekko ask to the echo");
        }

        @Override
        public Object burstFromInside() {
            CompletableFuture<Object> done = new CompletableFuture<>();
            caller.tell(new PekkoBurst(BURST, done));
            return BenchSupport.get(done, "a burst of Pekko requests");
        }

        @Override
        public void close() {
            BenchSupport.terminate(system);
        }
    }
}
