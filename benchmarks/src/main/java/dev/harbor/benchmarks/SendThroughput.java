package dev.harbor.benchmarks;

import dev.harbor.service.Handle;
import dev.harbor.service.Message;
import dev.harbor.service.Node;
import dev.harbor.service.Service;
import dev.harbor.service.ServiceContext;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractMatchingBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
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
 * Local send throughput, actor to actor: messages per second, Harbor services against Pekko typed
 * actors.
 *
 * <p><b>Scenario.</b> {@code pairs} independent pairs, each a <i>pinger</i> and a <i>ponger</i>. The
 * benchmark thread tells every pinger to start a round; the pinger sends {@link #IN_FLIGHT} pings at
 * once to its ponger, the ponger answers each ping with a pong, and the pinger answers each pong with
 * a new ping until it has sent its quota; it counts the pongs it receives and, when all have come
 * back, counts down the round's latch. The benchmark thread waits for the latch of every pair.
 *
 * <p><b>One operation is one message.</b> An invocation moves {@link #MESSAGES} messages in total
 * (pings plus pongs, split evenly over the pairs), and {@link OperationsPerInvocation} tells JMH so:
 * the score in ops/s is messages per second.
 *
 * <p><b>Both sides alike.</b> The payload is the same preallocated {@code String} for both runtimes
 * and is never copied. Both pingers are classes with the same three counters and the same
 * {@code instanceof} dispatch; both pongers are stateless lambdas. A Harbor ponger answers
 * {@link Message#from()}; a Pekko message has no sender, so each Pekko ponger is spawned knowing its
 * pinger. Harbor runs on its defaults (virtual threads, whose scheduler has one carrier per core);
 * Pekko runs on its default dispatcher, unchanged (see {@link BenchSupport#PEKKO_CONFIG}).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 2, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
@Warmup(iterations = 3, time = 3)
@Measurement(iterations = 5, time = 3)
public class SendThroughput {

    /** Messages (pings and pongs) per invocation, across all pairs. */
    static final int MESSAGES = 800_000;
    /** Pings each pinger keeps in flight. */
    static final int IN_FLIGHT = 32;
    /** The payload of every ping and pong, for both runtimes. */
    static final String PAYLOAD = "ping";

    @Param({"harbor", "pekko"})
    public String runtime;

    @Param({"1", "8"})
    public int pairs;

    private Rig rig;
    private int pingsPerPair;

    @Setup(Level.Trial)
    public void start() {
        if (MESSAGES % (2 * pairs) != 0 || MESSAGES / (2 * pairs) < IN_FLIGHT) {
            throw new IllegalArgumentException(pairs + " pairs cannot share " + MESSAGES + " messages evenly");
        }
        pingsPerPair = MESSAGES / (2 * pairs);
        rig = switch (runtime) {
            case "harbor" -> new HarborRig(pairs);
            case "pekko" -> new PekkoRig(pairs);
            default -> throw new IllegalArgumentException("unknown runtime '" + runtime + "': use harbor or pekko");
        };
    }

    @TearDown(Level.Trial)
    public void stop() {
        rig.close();
    }

    /** Every pair exchanges its share of {@link #MESSAGES}; returns when all pairs are done. */
    @Benchmark
    @OperationsPerInvocation(MESSAGES)
    public void pingPong() {
        rig.round(pingsPerPair);
    }

    /** One runtime with its pairs set up. */
    interface Rig extends AutoCloseable {
        /** Starts a round of {@code pings} pings in every pair and waits until every pair is done. */
        void round(int pings);

        @Override
        void close();
    }

    /** Counts the pongs of one round and keeps {@link #IN_FLIGHT} pings going; shared by both pingers. */
    static final class Rally {
        private final int pings;
        private final CountDownLatch done;
        private int sent;
        private int received;

        Rally(int pings, CountDownLatch done) {
            this.pings = pings;
            this.done = done;
        }

        /** How many pings to send at the start. */
        int opening() {
            sent = Math.min(IN_FLIGHT, pings);
            return sent;
        }

        /** Counts a pong; returns whether to send another ping. */
        boolean pong() {
            received++;
            if (received == pings) {
                done.countDown();
            }
            if (sent < pings) {
                sent++;
                return true;
            }
            return false;
        }
    }

    // ------------------------------------------------------------------ Harbor

    /** Starts a round: the ponger to play with, how many pings, the latch to count down at the end. */
    record HarborRound(Handle ponger, int pings, CountDownLatch done) {
    }

    /** The Harbor pinger. Its fields need no locks: its handlers never run concurrently. */
    static final class HarborPinger implements Service {
        private Handle ponger;
        private Rally rally;

        @Override
        public Object receive(ServiceContext ctx, Message m) {
            if (m.payload() instanceof HarborRound round) {
                ponger = round.ponger();
                rally = new Rally(round.pings(), round.done());
                for (int i = rally.opening(); i > 0; i--) {
                    ctx.send(ponger, PAYLOAD);
                }
            } else if (rally.pong()) {
                ctx.send(ponger, PAYLOAD);
            }
            return null;
        }
    }

    static final class HarborRig implements Rig {
        private final Node node = Node.builder().id(1).build();
        private final Handle[] pingers;
        private final Handle[] pongers;

        HarborRig(int pairs) {
            pingers = new Handle[pairs];
            pongers = new Handle[pairs];
            for (int i = 0; i < pairs; i++) {
                pingers[i] = node.launch(HarborPinger::new);
                pongers[i] = node.launch(() -> (ctx, m) -> {
                    ctx.send(m.from(), m.payload());
                    return null;
                });
            }
        }

        @Override
        public void round(int pings) {
            CountDownLatch done = new CountDownLatch(pingers.length);
            for (int i = 0; i < pingers.length; i++) {
                node.send(pingers[i], new HarborRound(pongers[i], pings, done));
            }
            BenchSupport.await(done, "a Harbor ping-pong round");
        }

        @Override
        public void close() {
            node.stop();
        }
    }

    // ------------------------------------------------------------------ Pekko

    /** Starts a round: the ponger to play with, how many pings, the latch to count down at the end. */
    record PekkoRound(ActorRef<String> ponger, int pings, CountDownLatch done) {
    }

    /** The Pekko pinger: receives rounds and pongs, so its message type is {@code Object}. */
    static final class PekkoPinger extends AbstractMatchingBehavior<Object> {
        private ActorRef<String> ponger;
        private Rally rally;

        PekkoPinger(ActorContext<Object> context) {
            super(context);
        }

        @Override
        public Behavior<Object> onMessage(Object message) {
            if (message instanceof PekkoRound round) {
                ponger = round.ponger();
                rally = new Rally(round.pings(), round.done());
                for (int i = rally.opening(); i > 0; i--) {
                    ponger.tell(PAYLOAD);
                }
            } else if (rally.pong()) {
                ponger.tell(PAYLOAD);
            }
            return this;
        }
    }

    static final class PekkoRig implements Rig {
        private final ActorSystem<Void> system;
        private final List<ActorRef<Object>> pingers = new ArrayList<>();
        private final List<ActorRef<String>> pongers = new ArrayList<>();

        PekkoRig(int pairs) {
            CompletableFuture<Void> spawned = new CompletableFuture<>();
            // The guardian spawns the pairs as its children, then does nothing.
            system = ActorSystem.create(Behaviors.<Void>setup(ctx -> {
                for (int i = 0; i < pairs; i++) {
                    ActorRef<Object> pinger = ctx.spawn(Behaviors.setup(PekkoPinger::new), "pinger-" + i);
                    ActorRef<String> ponger = ctx.spawn(Behaviors.receiveMessage(payload -> {
                        pinger.tell(payload);
                        return Behaviors.same();
                    }), "ponger-" + i);
                    pingers.add(pinger);
                    pongers.add(ponger);
                }
                spawned.complete(null);
                return Behaviors.empty();
            }), "send-throughput", BenchSupport.PEKKO_CONFIG);
            BenchSupport.get(spawned, "spawning the Pekko pairs");
        }

        @Override
        public void round(int pings) {
            CountDownLatch done = new CountDownLatch(pingers.size());
            for (int i = 0; i < pingers.size(); i++) {
                pingers.get(i).tell(new PekkoRound(pongers.get(i), pings, done));
            }
            BenchSupport.await(done, "a Pekko ping-pong round");
        }

        @Override
        public void close() {
            BenchSupport.terminate(system);
        }
    }
}
