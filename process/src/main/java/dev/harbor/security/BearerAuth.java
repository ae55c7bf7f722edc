package dev.harbor.security;

import io.grpc.CallCredentials;
import io.grpc.ChannelCredentials;
import io.grpc.CompositeChannelCredentials;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Collection;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.stream.Collectors;

/**
 * The cluster's bearer-token check: lets a call through only with {@code authorization: Bearer <token>}.
 * Tokens are compared in constant time ({@link MessageDigest#isEqual}) and never logged, not even
 * in the refusal. Without a token ({@link #open()}), every call passes. It may guard every method of a
 * service or only some ({@link #only}: the node's {@code Kill}, {@code KillMany}, {@code Stop} and
 * {@code Abort}, while its exit stream and service list stay readable).
 *
 * <p>Immutable; runs on gRPC's threads.
 */
public final class BearerAuth implements ServerInterceptor {
    /** The header that carries the token. */
    public static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private final byte[] expected;
    /** Full method names that need the token; null: all of them. */
    private final Set<String> guarded;

    private BearerAuth(byte[] expected, Set<String> guarded) {
        this.expected = expected;
        this.guarded = guarded;
    }

    /** Requires {@code token} on every call. */
    public static BearerAuth requiring(String token) {
        if (token == null || token.isBlank()) {
            throw new IllegalArgumentException("the cluster's token must not be empty");
        }
        return new BearerAuth(("Bearer " + token.strip()).getBytes(StandardCharsets.UTF_8), null);
    }

    /**
     * Requires {@code token} on every call ({@link #requiring}), or lets everyone through if it is null
     * (no token is configured).
     */
    public static BearerAuth forToken(String token) {
        return token == null ? new BearerAuth(null, null) : requiring(token);
    }

    /** The same check, applied to {@code methods} only; other methods pass without a token. */
    public BearerAuth only(Collection<MethodDescriptor<?, ?>> methods) {
        return new BearerAuth(expected, methods.stream().map(MethodDescriptor::getFullMethodName).collect(Collectors.toUnmodifiableSet()));
    }

    /** Whether calls need a token. */
    public boolean isOpen() {
        return expected == null;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        if (expected != null && (guarded == null || guarded.contains(call.getMethodDescriptor().getFullMethodName()))) {
            String given = headers.get(AUTHORIZATION);
            byte[] g = given == null ? new byte[0] : given.getBytes(StandardCharsets.UTF_8);
            if (!MessageDigest.isEqual(expected, g)) {
                call.close(Status.UNAUTHENTICATED.withDescription((given == null
                        ? "this call needs 'authorization: Bearer <token>' with the cluster's token"
                        : "the bearer token is not the cluster's") + " (coordinator.token-file on the node; --token-file or"
                        + " HARBOR_COORDINATOR_TOKEN for the harbor command)"), new Metadata());
                return new ServerCall.Listener<>() {
                };
            }
        }
        return next.startCall(call, headers);
    }

    /**
     * Client side: channel credentials that are {@code channel} and also send {@code token} with every
     * call (as {@link #credentials}); {@code channel} itself if {@code token} is null. What a node's links
     * to its peers use.
     */
    public static ChannelCredentials withToken(ChannelCredentials channel, String token) {
        return token == null ? channel : CompositeChannelCredentials.create(channel, credentials(token));
    }

    /** Client side: call credentials that send {@code token} as {@code authorization: Bearer <token>}. */
    public static CallCredentials credentials(String token) {
        String value = "Bearer " + token.strip();
        return new CallCredentials() {
            @Override
            public void applyRequestMetadata(RequestInfo info, Executor executor, MetadataApplier applier) {
                Metadata m = new Metadata();
                m.put(AUTHORIZATION, value);
                applier.apply(m);
            }
        };
    }
}
