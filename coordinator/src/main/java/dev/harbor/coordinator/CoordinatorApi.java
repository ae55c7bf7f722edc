package dev.harbor.coordinator;

import dev.harbor.proto.CoordinatorGrpc;
import dev.harbor.proto.PlanRequest;
import dev.harbor.proto.PlanResponse;
import dev.harbor.proto.ShutdownProgress;
import dev.harbor.proto.ShutdownRequest;
import dev.harbor.service.CallException;
import dev.harbor.service.Handle;
import dev.harbor.service.Node;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.concurrent.CompletionException;

/**
 * The {@code Coordinator} gRPC service: hands each request to the coordinator service as a message and
 * streams the run's progress back. Runs on gRPC's threads (direct executor): it never waits, it
 * completes the gRPC call when the coordinator service answers.
 */
final class CoordinatorApi extends CoordinatorGrpc.CoordinatorImplBase {
    private static final Duration ASK = Duration.ofSeconds(10);
    private final Node node;
    /** The coordinator service of the node's current life (a new life relaunches it). */
    private final java.util.function.Supplier<Handle> coordinator;

    CoordinatorApi(Node node, java.util.function.Supplier<Handle> coordinator) {
        this.node = node;
        this.coordinator = coordinator;
    }

    @Override
    public void plan(PlanRequest request, StreamObserver<PlanResponse> responses) {
        if (!validNodes(request.getNodesList(), responses)) {
            return;
        }
        node.call(coordinator.get(), request, ASK).whenComplete((answer, error) -> {
            if (error != null) {
                responses.onError(status(error).asRuntimeException());
                return;
            }
            responses.onNext((PlanResponse) answer);
            responses.onCompleted();
        });
    }

    @Override
    public void shutdown(ShutdownRequest request, StreamObserver<ShutdownProgress> responses) {
        if (!validNodes(request.getNodesList(), responses)) {
            return;
        }
        ServerCallStreamObserver<ShutdownProgress> out = (ServerCallStreamObserver<ShutdownProgress>) responses;
        Follower follower = new Follower(out);
        out.setOnCancelHandler(() -> node.send(coordinator.get(), new CoordinatorService.Detach(follower)));
        node.call(coordinator.get(), new CoordinatorService.Start(request, request.getDryRun() ? null : follower), ASK)
                .whenComplete((answer, error) -> {
                    if (error != null) {
                        follower.fail(status(error));
                        return;
                    }
                    CoordinatorService.Started started = (CoordinatorService.Started) answer;
                    if (started.refused()) {
                        follower.onProgress(ShutdownProgress.newBuilder().setPlan(started.plan()).build());
                        follower.fail(Status.FAILED_PRECONDITION.withDescription("shutdown refused, nothing was touched: "
                                + started.plan().getRefusal()));
                    } else if (request.getDryRun()) {
                        follower.onProgress(ShutdownProgress.newBuilder().setPlan(started.plan()).build());
                        follower.onEnd();
                    }
                });
    }

    private static boolean validNodes(java.util.List<Integer> nodes, StreamObserver<?> responses) {
        for (int n : nodes) {
            if (n < 1 || n > Handle.MAX_NODE) {
                responses.onError(Status.INVALID_ARGUMENT.withDescription("node id " + Integer.toUnsignedString(n) + " is out of range 1-" + Handle.MAX_NODE)
                        .asRuntimeException());
                return false;
            }
        }
        return true;
    }

    private static Status status(Throwable error) {
        Throwable e = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
        if (e instanceof CallException ce && ce.failure() == CallException.Failure.TIMEOUT) {
            return Status.DEADLINE_EXCEEDED.withDescription("the coordinator did not answer in time: " + e.getMessage());
        }
        return Status.INTERNAL.withDescription("the coordinator failed the request: " + e.getMessage());
    }

    /**
     * One Shutdown stream's follower. Items come from the coordinator service's thread; the final
     * failure may come from a gRPC thread; a lock keeps writes one at a time.
     */
    private static final class Follower implements Run.ProgressListener {
        private final ServerCallStreamObserver<ShutdownProgress> out;
        private boolean done;

        Follower(ServerCallStreamObserver<ShutdownProgress> out) {
            this.out = out;
        }

        @Override
        public synchronized void onProgress(ShutdownProgress item) {
            if (!done && !out.isCancelled()) {
                out.onNext(item);
            }
        }

        @Override
        public synchronized void onEnd() {
            if (!done && !out.isCancelled()) {
                done = true;
                out.onCompleted();
            }
        }

        synchronized void fail(Status status) {
            if (!done && !out.isCancelled()) {
                done = true;
                out.onError(status.asRuntimeException());
            }
        }
    }
}
