package dev.harbor.it;

import dev.harbor.service.Handle;
import dev.harbor.proto.ExitEvent;
import dev.harbor.proto.ExitStreamItem;
import dev.harbor.proto.NodeGrpc;
import dev.harbor.proto.WatchExitsRequest;
import io.grpc.Context;
import java.time.Duration;
import java.util.List;
import java.util.function.Predicate;
import org.awaitility.Awaitility;

/** Follows one node's WatchExits stream over gRPC and keeps every item, for assertions. */
final class ExitStreamRecorder extends StreamRecorder<ExitStreamItem> implements AutoCloseable {
    private final Context.CancellableContext context = Context.current().withCancellation();

    static ExitStreamRecorder follow(NodeGrpc.NodeStub node, long fromSeq) {
        ExitStreamRecorder r = new ExitStreamRecorder();
        r.context.run(() -> node.watchExits(WatchExitsRequest.newBuilder().setFromSeq(fromSeq).build(), r));
        return r;
    }


    List<ExitEvent> exits() {
        return items.stream().filter(ExitStreamItem::hasExit).map(ExitStreamItem::getExit).toList();
    }

    void awaitCaughtUp(Duration within) {
        Awaitility.await().atMost(within).until(() -> items.stream().anyMatch(ExitStreamItem::hasCaughtUp));
    }

    void awaitExits(Duration within, Predicate<List<ExitEvent>> done) {
        Awaitility.await().atMost(within).until(() -> done.test(exits()));
    }

    /**
     * The exit events {@code node} retains after {@code fromSeq}: its stream's backlog, read from a new
     * WatchExits call up to its caught_up.
     */
    static List<ExitEvent> backlog(NodeGrpc.NodeStub node, long fromSeq, Duration within) {
        try (ExitStreamRecorder r = follow(node, fromSeq)) {
            r.awaitCaughtUp(within);
            List<ExitStreamItem> items = List.copyOf(r.items);
            int upTo = 0;
            while (!items.get(upTo).hasCaughtUp()) {
                upTo++;
            }
            return items.subList(0, upTo).stream().filter(ExitStreamItem::hasExit).map(ExitStreamItem::getExit).toList();
        }
    }

    /** The seq of the newest exit event {@code node} has published (its stream's caught_up). */
    static long lastSeq(NodeGrpc.NodeStub node, Duration within) {
        try (ExitStreamRecorder r = follow(node, 0)) {
            r.awaitCaughtUp(within);
            return r.items.stream().filter(ExitStreamItem::hasCaughtUp).findFirst().orElseThrow().getCaughtUp().getLastSeq();
        }
    }

    /** The handle an exit event is about. */
    static Handle handle(ExitEvent e) {
        return Handle.of(e.getHandle().getNode(), e.getHandle().getId());
    }

    /** Disconnects, as a subscriber that goes away would. */
    @Override
    public void close() {
        context.cancel(null);
    }
}
