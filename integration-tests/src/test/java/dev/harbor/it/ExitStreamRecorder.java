package dev.harbor.it;

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

    /** Disconnects, as a subscriber that goes away would. */
    @Override
    public void close() {
        context.cancel(null);
    }
}
