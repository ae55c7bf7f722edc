package dev.harbor.service;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.reflect.Method;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** What a service sees of its node: the narrow view, and nothing it could stop the node with. */
@Timeout(30)
class NodeViewTest extends NodeFixture {
    private final CompletableFuture<Message> sends = new CompletableFuture<>();

    @Test
    void aServiceGetsAViewThatCannotStopItsNodeEvenByACast() {
        CompletableFuture<NodeView> seen = new CompletableFuture<>();
        node.launch(() -> new Service() {
            @Override
            public void init(ServiceContext ctx) {
                seen.complete(ctx.node());
            }

            @Override
            public Object receive(ServiceContext ctx, Message m) {
                return null;
            }
        });
        NodeView view = get(seen);
        assertThat(view).isNotInstanceOf(Node.class).isNotInstanceOf(AutoCloseable.class);
        List<String> methods = Arrays.stream(view.getClass().getMethods()).map(Method::getName).toList();
        assertThat(methods).doesNotContain("stop", "abort", "close", "newLife", "attach", "transportClosed", "kill",
                "exits", "scheduler", "provide");
    }

    @Test
    void whoeverHoldsTheNodeReadsItsExitLogButCannotWriteIt() throws Exception {
        assertThat(java.lang.reflect.Modifier.isPublic(ExitLog.class.getDeclaredMethod("publish", Handle.class, List.class,
                ExitReason.class, String.class).getModifiers())).as("only the node writes its log").isFalse();
        assertThat(Arrays.stream(ExitLog.class.getConstructors())).as("only the node makes its log").isEmpty();
        Handle own = echo();
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> InternalNode.publishPeerExit(node, own, List.of(),
                ExitReason.NODE_LOST, "forged")).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("own");
        assertThat(node.isAlive(own)).isTrue();
        assertThat(node.exits().find(own)).isEmpty();
        ExitEvent peer = InternalNode.publishPeerExit(node, Handle.of(node.id() + 1, 5), List.of("x"), ExitReason.NODE_LOST, "lost");
        assertThat(node.exits().find(Handle.of(node.id() + 1, 5))).contains(peer);
    }

    @Test
    void theViewSendsCallsLaunchesAndLooksUpOnItsNode() {
        node.provide(String.class, "provided");
        CompletableFuture<NodeView> seen = new CompletableFuture<>();
        Handle echo = node.launch(() -> new Service() {
            @Override
            public void init(ServiceContext ctx) {
                ctx.register("echo");
                seen.complete(ctx.node());
            }

            @Override
            public Object receive(ServiceContext ctx, Message m) {
                if (m.isCall()) {
                    return m.payload();
                }
                sends.complete(m);
                return null;
            }
        });
        NodeView view = get(seen);
        assertThat(view.whereis("echo")).contains(echo);
        assertThat(view.lookup(String.class)).isEqualTo(Optional.of("provided"));
        assertThat(get(view.call(echo, "ping", WAIT))).isEqualTo("ping");
        view.send(echo, "hello");
        Message m = get(sends);
        assertThat(m.payload()).isEqualTo("hello");
        assertThat(m.from()).as("a send through the view is from outside any service").isNull();
        Handle launched = get(view.launchAsync(() -> (ctx, msg) -> null));
        assertThat(node.isAlive(launched)).isTrue();
    }
}
