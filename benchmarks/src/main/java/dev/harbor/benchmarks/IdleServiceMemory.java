package dev.harbor.benchmarks;

import dev.harbor.service.Handle;
import dev.harbor.service.Node;
import dev.harbor.service.Service;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Heap used by idle services: one million Harbor services against one million Pekko typed actors.
 *
 * <p>Not a JMH benchmark: a plain main, run from the shaded jar with a large heap:
 * <pre>
 * java -Xms8g -Xmx8g -cp benchmarks/target/benchmarks.jar dev.harbor.benchmarks.IdleServiceMemory [count]
 * </pre>
 * {@code count} defaults to 1,000,000 (use e.g. {@code 100000} for a quick check).
 *
 * <p><b>Method.</b> For each runtime in turn, in the same JVM: start it, create a few warm-up services
 * (so that classes and lazily made runtime structures exist), force full GCs until the used heap
 * settles, create {@code count} idle services, settle the heap again and divide the growth by
 * {@code count}. The runtime is then shut down and the heap settled before the next one starts.
 * References to the services are not kept by this program: each runtime keeps its own (Harbor in its
 * node's service table, Pekko in the parent's children), and those tables are part of the cost.
 *
 * <p><b>Both sides alike.</b> The idle service does nothing and holds nothing, and one instance is
 * shared by all: Harbor's is a stateless lambda handler, Pekko's a {@code Behaviors.receiveMessage}
 * behavior that ignores its messages (Pekko behaviors are immutable and may be shared). Harbor
 * services are launched with {@link Node#launchAsync} in batches of {@link #BATCH}; Pekko actors are
 * spawned anonymously, in batches of {@link #BATCH}, as children of the user guardian.
 */
public final class IdleServiceMemory {

    /** Services created per batch. */
    static final int BATCH = 10_000;
    /** Services created before the baseline is taken, not counted. */
    static final int WARM_UP = 1_000;

    /** The idle Harbor service: ignores every message. One shared instance. */
    private static final Service IDLE_SERVICE = (ctx, m) -> null;
    /** The idle Pekko behavior: ignores every message. One shared instance. */
    private static final Behavior<Object> IDLE_BEHAVIOR = Behaviors.receiveMessage(m -> Behaviors.same());

    private static final MemoryMXBean MEMORY = ManagementFactory.getMemoryMXBean();

    private IdleServiceMemory() {
    }

    /** What one runtime cost. */
    record Result(String runtime, int count, long heapGrowth, long createNanos, long shutdownNanos) {
        double bytesEach() {
            return (double) heapGrowth / count;
        }
    }

    public static void main(String[] args) throws Exception {
        int count = args.length > 0 ? Integer.parseInt(args[0].replace("_", "")) : 1_000_000;
        if (count < BATCH) {
            throw new IllegalArgumentException("count must be at least " + BATCH + ", got " + count);
        }
        if (ManagementFactory.getRuntimeMXBean().getInputArguments().contains("-XX:+DisableExplicitGC")) {
            throw new IllegalStateException("this measurement needs System.gc(): remove -XX:+DisableExplicitGC");
        }
        System.out.printf(Locale.ROOT, "Idle services: %,d of each, heap used after full GC (max heap %.1f GiB, Java %s, %d cores)%n",
                count, MEMORY.getHeapMemoryUsage().getMax() / (double) (1L << 30), Runtime.version(),
                Runtime.getRuntime().availableProcessors());

        Result harbor = measureHarbor(count);
        report(harbor);
        settledHeapUsed();
        Result pekko = measurePekko(count);
        report(pekko);

        System.out.println();
        System.out.printf(Locale.ROOT, "%-20s %14s %12s %12s %12s%n", "runtime", "heap growth", "bytes each", "create", "shutdown");
        for (Result r : new Result[] {harbor, pekko}) {
            System.out.printf(Locale.ROOT, "%-20s %10.1f MiB %12.1f %10.2f s %10.2f s%n", r.runtime(),
                    r.heapGrowth() / (double) (1L << 20), r.bytesEach(), r.createNanos() / 1e9, r.shutdownNanos() / 1e9);
        }
        System.out.printf(Locale.ROOT, "Pekko / Harbor bytes per idle service: %.2f%n", pekko.bytesEach() / harbor.bytesEach());
    }

    private static void report(Result r) {
        System.out.printf(Locale.ROOT, "%s: %,d created in %.2f s, %.1f bytes each, shut down in %.2f s%n", r.runtime(),
                r.count(), r.createNanos() / 1e9, r.bytesEach(), r.shutdownNanos() / 1e9);
    }

    // ------------------------------------------------------------------ Harbor

    private static Result measureHarbor(int count) {
        Node node = Node.builder().id(1).build();
        launch(node, WARM_UP);
        long before = settledHeapUsed();
        long start = System.nanoTime();
        launch(node, count);
        long created = System.nanoTime() - start;
        long after = settledHeapUsed();

        Handle monitor = node.monitor();
        long alive = node.services().stream().filter(s -> !s.handle().equals(monitor)).count();
        if (alive != WARM_UP + count) {
            throw new IllegalStateException("expected " + (WARM_UP + count) + " idle Harbor services, found " + alive);
        }
        start = System.nanoTime();
        node.stop();
        return new Result("Harbor services", count, after - before, created, System.nanoTime() - start);
    }

    /** Launches {@code count} idle services, {@link #BATCH} at a time, each batch in parallel. */
    private static void launch(Node node, int count) {
        for (int done = 0; done < count; ) {
            int n = Math.min(BATCH, count - done);
            CompletableFuture<?>[] batch = new CompletableFuture<?>[n];
            for (int i = 0; i < n; i++) {
                batch[i] = node.launchAsync(() -> IDLE_SERVICE);
            }
            BenchSupport.get(CompletableFuture.allOf(batch), "launching " + n + " Harbor services");
            done += n;
        }
    }

    // ------------------------------------------------------------------ Pekko

    /** What the Pekko guardian is told. */
    sealed interface GuardianCommand {
    }

    /** Spawn {@code count} idle children, then complete {@code done}. */
    record Spawn(int count, CompletableFuture<Void> done) implements GuardianCommand {
    }

    /** Answer how many children the guardian has. */
    record CountChildren(CompletableFuture<Integer> reply) implements GuardianCommand {
    }

    private static Result measurePekko(int count) {
        ActorSystem<GuardianCommand> system = ActorSystem.create(Behaviors.setup(ctx -> Behaviors.receiveMessage(cmd -> {
            switch (cmd) {
                case Spawn s -> {
                    for (int i = 0; i < s.count(); i++) {
                        ctx.spawnAnonymous(IDLE_BEHAVIOR);
                    }
                    s.done().complete(null);
                }
                case CountChildren c -> c.reply().complete(ctx.getChildren().size());
            }
            return Behaviors.same();
        })), "idle-actors", BenchSupport.PEKKO_CONFIG);
        spawn(system, WARM_UP);
        long before = settledHeapUsed();
        long start = System.nanoTime();
        spawn(system, count);
        long created = System.nanoTime() - start;
        long after = settledHeapUsed();

        CompletableFuture<Integer> children = new CompletableFuture<>();
        system.tell(new CountChildren(children));
        int alive = BenchSupport.get(children, "counting the Pekko actors");
        if (alive != WARM_UP + count) {
            throw new IllegalStateException("expected " + (WARM_UP + count) + " idle Pekko actors, found " + alive);
        }
        start = System.nanoTime();
        BenchSupport.terminate(system);
        return new Result("Pekko typed actors", count, after - before, created, System.nanoTime() - start);
    }

    /** Has the guardian spawn {@code count} idle actors, {@link #BATCH} per message. */
    private static void spawn(ActorSystem<GuardianCommand> system, int count) {
        for (int done = 0; done < count; ) {
            int n = Math.min(BATCH, count - done);
            CompletableFuture<Void> spawned = new CompletableFuture<>();
            system.tell(new Spawn(n, spawned));
            BenchSupport.get(spawned, "spawning " + n + " Pekko actors");
            done += n;
        }
    }

    // ------------------------------------------------------------------ heap

    /** Runs full GCs until the used heap stops changing (at most 10), and returns it. */
    static long settledHeapUsed() {
        long previous = -1;
        long used = 0;
        for (int i = 0; i < 10; i++) {
            System.gc();
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while settling the heap", e);
            }
            used = MEMORY.getHeapMemoryUsage().getUsed();
            if (previous >= 0 && Math.abs(used - previous) < 256 * 1024) {
                break;
            }
            previous = used;
        }
        return used;
    }
}
