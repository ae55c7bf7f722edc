package dev.harbor.coordinator;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

/**
 * Lets a call through only with {@code authorization: Bearer <token>}. Tokens are compared in
 * constant time and never logged. Without a token configured ({@link #open()}), every call passes.
 * Stateless; runs on gRPC's threads.
 */
public final class BearerAuth implements ServerInterceptor {
    static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private final byte[] expected;

    private BearerAuth(byte[] expected) {
        this.expected = expected;
    }

    /** Requires {@code token}. */
    static BearerAuth requiring(String token) {
        if (token == null || token.isBlank()) {
            throw new IllegalArgumentException("the coordinator's token must not be empty");
        }
        return new BearerAuth(("Bearer " + token.strip()).getBytes(StandardCharsets.UTF_8));
    }

    /** Lets everyone through (the coordinator was told to run open). */
    static BearerAuth open() {
        return new BearerAuth(null);
    }

    /** What a client attaches to its calls to present {@code token}. */
    public static io.grpc.CallCredentials credentials(String token) {
        return new io.grpc.CallCredentials() {
            @Override
            public void applyRequestMetadata(RequestInfo info, java.util.concurrent.Executor executor, MetadataApplier applier) {
                Metadata m = new Metadata();
                m.put(AUTHORIZATION, "Bearer " + token);
                applier.apply(m);
            }
        };
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        if (expected != null) {
            String given = headers.get(AUTHORIZATION);
            byte[] g = given == null ? new byte[0] : given.getBytes(StandardCharsets.UTF_8);
            if (!MessageDigest.isEqual(expected, g)) {
                call.close(Status.UNAUTHENTICATED.withDescription(given == null
                        ? "this call needs 'authorization: Bearer <token>' with the coordinator's token"
                        : "the bearer token is not the coordinator's"), new Metadata());
                return new ServerCall.Listener<>() {
                };
            }
        }
        return next.startCall(call, headers);
    }
}
