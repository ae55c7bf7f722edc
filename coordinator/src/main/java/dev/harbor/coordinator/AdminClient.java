package dev.harbor.coordinator;

import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import dev.harbor.proto.CordonRequest;
import dev.harbor.proto.KillRequest;
import dev.harbor.proto.ListServicesRequest;
import dev.harbor.proto.ListServicesResponse;
import dev.harbor.proto.NodeGrpc;
import dev.harbor.proto.StopRequest;
import io.grpc.ManagedChannel;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The coordinator's hands on one node: its admin API, called without waiting. The coordinator never
 * takes an answer as the proof that something happened; proof comes from the exit stream. Answers and
 * errors arrive on gRPC's threads and must only be handed on.
 */
final class AdminClient {
    private static final long DEADLINE_SECONDS = 10;
    /** How long a node has to answer a probe after its peers lost it (a loaded node answers in milliseconds). */
    static final long PROBE_MILLIS = 2_000;
    private final NodeGrpc.NodeFutureStub stub;
    private final String unreachable;

    /** @param token the cluster's token, sent with every call (the node's Kill, KillMany, Stop and Cordon need it); null if none */
    AdminClient(ManagedChannel channel, String token) {
        NodeGrpc.NodeFutureStub s = NodeGrpc.newFutureStub(channel);
        this.stub = token == null ? s : s.withCallCredentials(dev.harbor.security.BearerAuth.credentials(token));
        this.unreachable = null;
    }

    private AdminClient(String why) {
        this.stub = null;
        this.unreachable = why;
    }

    /** A client for a node whose address is not known: every call fails at once with {@code why}. */
    static AdminClient unreachable(String why) {
        return new AdminClient(why);
    }

    void list(ListServicesRequest request, Consumer<ListServicesResponse> onAnswer, Consumer<String> onError) {
        on(() -> stub.withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS).listServices(request), onAnswer, onError);
    }

    /**
     * Asks whether the node answers at all (a list of its services), failing after {@link #PROBE_MILLIS}:
     * a node that answers in time is alive; one that does not, on a link that may be silently cut, is
     * taken at its peers' word.
     */
    void probe(Consumer<String> onError) {
        on(() -> stub.withDeadlineAfter(PROBE_MILLIS, TimeUnit.MILLISECONDS).listServices(ListServicesRequest.getDefaultInstance()),
                answer -> { }, onError);
    }

    void kill(KillRequest request, Consumer<String> onError) {
        on(() -> stub.withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS).kill(request), answer -> { }, onError);
    }

    void killMany(dev.harbor.proto.KillManyRequest request, Consumer<String> onError) {
        on(() -> stub.withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS).killMany(request), answer -> { }, onError);
    }

    void cordon(CordonRequest request, Consumer<String> onError) {
        on(() -> stub.withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS).cordon(request), answer -> { }, onError);
    }

    void stop(StopRequest request, Consumer<String> onError) {
        on(() -> stub.withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS).stop(request), answer -> { }, onError);
    }

    /** Why a call failed, and whether nothing listens at the node's address any more (see {@link #stop(StopRequest, Runnable, Failure)}). */
    interface Failure {
        void failed(String why, boolean processGone);
    }

    /**
     * Asks the node to stop, telling {@code onTaken} when it answered. A failure says whether the node's
     * process is gone: its address refuses connections, has no route or no longer resolves (a process
     * that is merely paused, or cut off by a firewall, lets the call wait until its deadline instead).
     */
    void stop(StopRequest request, Runnable onTaken, Failure onError) {
        on(() -> stub.withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS).stop(request), answer -> onTaken.run(), onError);
    }

    private static boolean nothingListens(Throwable t) {
        if (io.grpc.Status.fromThrowable(t).getCode() != io.grpc.Status.Code.UNAVAILABLE) {
            return false;
        }
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof java.net.ConnectException || c instanceof java.net.NoRouteToHostException
                    || c instanceof java.net.UnknownHostException) {
                return true;
            }
        }
        return false;
    }

    private <T> void on(java.util.function.Supplier<ListenableFuture<T>> call, Consumer<T> onAnswer, Consumer<String> onError) {
        on(call, onAnswer, (why, gone) -> onError.accept(why));
    }

    /** The one way every call is made: at once to {@code onError} (the process counted gone) if the node has no address. */
    private <T> void on(java.util.function.Supplier<ListenableFuture<T>> call, Consumer<T> onAnswer, Failure onError) {
        if (unreachable != null) {
            onError.failed(unreachable, true);
            return;
        }
        Futures.addCallback(call.get(), new FutureCallback<>() {
            @Override
            public void onSuccess(T result) {
                onAnswer.accept(result);
            }

            @Override
            public void onFailure(Throwable t) {
                onError.failed(t.toString(), nothingListens(t));
            }
        }, MoreExecutors.directExecutor());
    }
}
