package dev.harbor.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.ManagedChannel;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A node's overall health ({@code grpc.health.v1.Health/Watch} for {@code ""}) as a load balancer sees
 * it: every status the node sends, in order, and {@code UNKNOWN} once the stream ends (the process went
 * away). Statuses arrive on gRPC's threads and are handed over through a queue.
 */
final class HealthRecorder {
    private static final Duration WAIT = CoordinatedCluster.WAIT;
    private final LinkedBlockingQueue<ServingStatus> seen = new LinkedBlockingQueue<>();
    private volatile ServingStatus latest = ServingStatus.UNKNOWN;

    private HealthRecorder() {
    }

    /** The node's overall health now (one {@code Check}), or {@code UNKNOWN} if it does not answer within 5 s. */
    static ServingStatus check(ManagedChannel channel) {
        try {
            return HealthGrpc.newBlockingStub(channel).withDeadlineAfter(5, java.util.concurrent.TimeUnit.SECONDS)
                    .check(HealthCheckRequest.getDefaultInstance()).getStatus();
        } catch (io.grpc.StatusRuntimeException e) {
            return ServingStatus.UNKNOWN;
        }
    }

    static HealthRecorder watch(ManagedChannel channel) {
        HealthRecorder r = new HealthRecorder();
        HealthGrpc.newStub(channel).watch(HealthCheckRequest.getDefaultInstance(), new StreamObserver<>() {
            @Override
            public void onNext(HealthCheckResponse response) {
                r.add(response.getStatus());
            }

            @Override
            public void onError(Throwable t) {
                r.add(ServingStatus.UNKNOWN);
            }

            @Override
            public void onCompleted() {
                r.add(ServingStatus.UNKNOWN);
            }
        });
        return r;
    }

    private void add(ServingStatus status) {
        latest = status;
        seen.add(status);
    }

    /** The next status the node sends; fails the test if none comes within {@link CoordinatedCluster#WAIT}. */
    ServingStatus next() throws InterruptedException {
        ServingStatus s = seen.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(s).as("a health status within %s", WAIT).isNotNull();
        return s;
    }

    /** The last status the node has sent so far ({@code UNKNOWN} before the first). */
    ServingStatus latest() {
        return latest;
    }
}
