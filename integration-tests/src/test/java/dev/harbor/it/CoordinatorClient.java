package dev.harbor.it;

import static org.awaitility.Awaitility.await;

import dev.harbor.proto.CoordinatorGrpc;
import dev.harbor.proto.PlanRequest;
import dev.harbor.proto.PlanResponse;
import dev.harbor.proto.ShutdownRequest;
import io.grpc.Channel;
import io.grpc.ClientInterceptor;
import io.grpc.Metadata;
import io.grpc.stub.MetadataUtils;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * The {@code Coordinator} API of one cluster's coordinator, as a test calls it: with or without the
 * token, whatever runs the cluster (node processes, containers).
 *
 * @param channel a channel to the node that hosts the coordinator
 * @param token the coordinator's token
 */
record CoordinatorClient(Channel channel, String token) {
    static final Duration WAIT = Duration.ofSeconds(30);

    /** The blocking API, sending {@code withToken} (none if null). */
    CoordinatorGrpc.CoordinatorBlockingStub blocking(String withToken) {
        return CoordinatorGrpc.newBlockingStub(channel).withInterceptors(bearer(withToken)).withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    /** The streaming API, sending {@code withToken} (none if null). */
    CoordinatorGrpc.CoordinatorStub async(String withToken) {
        return CoordinatorGrpc.newStub(channel).withInterceptors(bearer(withToken));
    }

    /** Starts a shutdown with the token and follows its progress. */
    ProgressRecorder shutdown(ShutdownRequest request) {
        ProgressRecorder r = new ProgressRecorder();
        async(token).shutdown(request, r);
        return r;
    }

    PlanResponse plan(int budgetMs) {
        return blocking(token).plan(PlanRequest.newBuilder().setBudgetMs(budgetMs).build());
    }

    /** Waits until the coordinator's plan (at a generous budget) satisfies {@code ready}; returns it. */
    PlanResponse awaitPlan(Predicate<PlanResponse> ready) {
        PlanResponse[] last = new PlanResponse[1];
        await().atMost(WAIT).ignoreExceptions().until(() -> {
            last[0] = plan(600_000);
            return ready.test(last[0]);
        });
        return last[0];
    }

    private static ClientInterceptor bearer(String token) {
        Metadata m = new Metadata();
        if (token != null) {
            m.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
        }
        return MetadataUtils.newAttachHeadersInterceptor(m);
    }
}
