package dev.harbor.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class MessagingTest extends NodeFixture {

    @Test
    void sendsBetweenTwoServicesArriveInTheOrderSent() {
        List<Integer> got = new CopyOnWriteArrayList<>();
        Handle sink = node.launch(() -> (ctx, m) -> got.add((Integer) m.payload()));
        Handle source = node.launch(() -> (ctx, m) -> {
            for (int i = 0; i < 10_000; i++) {
                ctx.send(sink, i);
            }
            return null;
        });
        node.send(source, "go");
        org.awaitility.Awaitility.await().atMost(WAIT).until(() -> got.size() == 10_000);
        for (int i = 0; i < got.size(); i++) {
            assertThat(got.get(i)).isEqualTo(i);
        }
    }

    @Test
    void aMessageCarriesItsSenderAndIsPassedWithoutCopying() {
        Object payload = new int[] {1, 2, 3};
        CompletableFuture<Message> seen = new CompletableFuture<>();
        Handle sink = node.launch(() -> (ctx, m) -> seen.complete(m));
        Handle source = node.launch(() -> (ctx, m) -> {
            ctx.send(sink, payload);
            return null;
        });
        node.send(source, "go");
        Message m = get(seen);
        assertThat(m.from()).isEqualTo(source);
        assertThat(m.payload()).isSameAs(payload);
        assertThat(m.isCall()).isFalse();
    }

    @Test
    void aCallGetsTheHandlersReturnValue() {
        Handle h = node.launch(() -> (ctx, m) -> "hello " + m.payload(String.class));
        assertThat(call(h, "world")).isEqualTo("hello world");
    }

    @Test
    void aThrowingHandlerAnswersItsCallerWithAnErrorAndTheServiceLivesOn() {
        Handle h = node.launch(() -> (ctx, m) -> {
            if (m.payload().equals("bad")) {
                throw new IllegalArgumentException("cannot do bad");
            }
            return "ok";
        });
        CallException e = (CallException) failure(node.call(h, "bad", WAIT));
        assertThat(e.failure()).isEqualTo(CallException.Failure.HANDLER_FAILED);
        assertThat(e.getMessage()).contains(h.toString()).contains("cannot do bad");
        assertThat(e.getCause()).isInstanceOf(IllegalArgumentException.class);
        node.send(h, "bad"); // a throwing send handler only logs
        assertThat(call(h, "good")).isEqualTo("ok");
        assertThat(node.isAlive(h)).isTrue();
    }

    @Test
    void aCallTimesOutWithAClearError() {
        Handle silent = node.launch(() -> (ctx, m) -> {
            m.defer(); // never answered
            return null;
        });
        CallException e = (CallException) failure(node.call(silent, "x", Duration.ofMillis(100)));
        assertThat(e.failure()).isEqualTo(CallException.Failure.TIMEOUT);
        assertThat(e).hasMessage("call to " + silent + " got no reply within 100 ms");
    }

    @Test
    void aCallFromAServiceTimesOutAndTheServiceGoesOn() {
        Handle silent = node.launch(() -> (ctx, m) -> {
            m.defer();
            return null;
        });
        Handle caller = node.launch(() -> (ctx, m) -> {
            try {
                return ctx.call(silent, "x", Duration.ofMillis(100));
            } catch (CallException e) {
                return e.failure() + ": " + e.getMessage();
            }
        });
        assertThat(call(caller, "go")).isEqualTo("TIMEOUT: call to " + silent + " got no reply within 100 ms");
    }

    @Test
    void aDeferredReplyIsSentFromAnotherHandler() {
        // The first call parks its reply; the second message releases it.
        Handle latch = node.launch(() -> new Service() {
            final List<DeferredReply> waiting = new ArrayList<>();

            @Override
            public Object receive(ServiceContext ctx, Message m) {
                if (m.payload().equals("wait")) {
                    waiting.add(m.defer());
                    return "ignored: the reply was deferred";
                }
                waiting.forEach(r -> r.reply("released by " + m.payload()));
                waiting.clear();
                return "done";
            }
        });
        CompletableFuture<Object> first = node.call(latch, "wait", WAIT);
        CompletableFuture<Object> second = node.call(latch, "wait", WAIT);
        assertThat(call(latch, "open")).isEqualTo("done");
        assertThat(get(first)).isEqualTo("released by open");
        assertThat(get(second)).isEqualTo("released by open");
    }

    @Test
    void aDeferredReplyIsAnsweredOnceOnly() {
        CompletableFuture<DeferredReply> parked = new CompletableFuture<>();
        Handle h = node.launch(() -> (ctx, m) -> parked.complete(m.defer()));
        CompletableFuture<Object> answer = node.call(h, "x", WAIT);
        DeferredReply reply = get(parked);
        assertThat(reply.reply("first")).isTrue();
        assertThat(reply.reply("second")).isFalse();
        assertThat(reply.fail("third")).isFalse();
        assertThat(get(answer)).isEqualTo("first");
    }

    @Test
    void aFailedDeferredReplyReachesTheCallerAsAnError() {
        Handle h = node.launch(() -> (ctx, m) -> {
            m.defer().fail("quota exceeded");
            return null;
        });
        CallException e = (CallException) failure(node.call(h, "x", WAIT));
        assertThat(e.failure()).isEqualTo(CallException.Failure.HANDLER_FAILED);
        assertThat(e.getMessage()).contains("quota exceeded");
    }

    @Test
    void deferringASendIsRefused() {
        CompletableFuture<Throwable> error = new CompletableFuture<>();
        Handle h = node.launch(() -> (ctx, m) -> {
            try {
                m.defer();
            } catch (IllegalStateException e) {
                error.complete(e);
            }
            return null;
        });
        node.send(h, "x");
        assertThat(get(error)).hasMessageContaining("is a send, not a call");
    }

    @Test
    void callsAndSendsByNameFindTheRegisteredService() {
        Handle h = node.launch(() -> new Service() {
            @Override
            public void init(ServiceContext ctx) {
                ctx.register(".local-echo");
                ctx.register("global-echo");
            }

            @Override
            public Object receive(ServiceContext ctx, Message m) {
                return m.payload();
            }
        });
        assertThat(node.whereis(".local-echo")).contains(h);
        assertThat(node.whereis("global-echo")).contains(h);
        assertThat(get(node.call("global-echo", "by name", WAIT))).isEqualTo("by name");
        Handle caller = node.launch(() -> (ctx, m) -> ctx.call(".local-echo", "via ctx", WAIT));
        assertThat(call(caller, "go")).isEqualTo("via ctx");
    }

    @Test
    void unknownNamesAndHandlesGetClearErrors() {
        CallException noName = (CallException) failure(node.call("nobody", "x", WAIT));
        assertThat(noName.failure()).isEqualTo(CallException.Failure.NO_SUCH_NAME);
        assertThat(noName).hasMessage("no service is registered as 'nobody'");
        assertThatThrownBy(() -> node.send("nobody", "x")).isInstanceOf(CallException.class)
                .hasMessage("no service is registered as 'nobody'");

        Handle never = Handle.of(1, Long.MAX_VALUE);
        CallException noService = (CallException) failure(node.call(never, "x", WAIT));
        assertThat(noService.failure()).isEqualTo(CallException.Failure.NO_SUCH_SERVICE);
        assertThat(noService.getMessage()).contains("no service " + never + " exists on node 1");

        Handle elsewhere = Handle.of(9, 5);
        CallException unreachable = (CallException) failure(node.call(elsewhere, "x", WAIT));
        assertThat(unreachable.failure()).isEqualTo(CallException.Failure.UNREACHABLE);
        assertThat(unreachable.getMessage()).contains("node 9");

        long before = node.deadLetters();
        node.send(never, "dropped");
        assertThat(node.deadLetters()).isEqualTo(before + 1);
    }

    @Test
    void aTakenNameIsRefusedWithItsHolder() {
        Handle holder = node.launch(() -> new Service() {
            @Override
            public void init(ServiceContext ctx) {
                ctx.register("db");
            }

            @Override
            public Object receive(ServiceContext ctx, Message m) {
                return null;
            }
        });
        assertThatThrownBy(() -> node.launch(() -> new Service() {
            @Override
            public void init(ServiceContext ctx) {
                ctx.register("db");
            }

            @Override
            public Object receive(ServiceContext ctx, Message m) {
                return null;
            }
        })).isInstanceOf(LaunchException.class).hasMessageContaining("the name 'db' is already taken by service " + holder);
        assertThatThrownBy(() -> node.launch(() -> new Service() {
            @Override
            public void init(ServiceContext ctx) {
                ctx.register(" ");
            }

            @Override
            public Object receive(ServiceContext ctx, Message m) {
                return null;
            }
        })).isInstanceOf(LaunchException.class).hasMessageContaining("is not a service name");
    }

    @Test
    void callingFromOutsideTheServicesOwnThreadIsRefused() {
        CompletableFuture<ServiceContext> leaked = new CompletableFuture<>();
        Handle h = node.launch(() -> (ctx, m) -> leaked.complete(ctx));
        node.send(h, "x");
        ServiceContext ctx = get(leaked);
        assertThatThrownBy(() -> ctx.call(h, "x")).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("must run in that service's own handler or init");
    }

    @Test
    void aPayloadOfTheWrongTypeIsNamedInTheError() {
        Handle h = node.launch(() -> (ctx, m) -> m.payload(Integer.class) + 1);
        CallException e = (CallException) failure(node.call(h, "text", WAIT));
        assertThat(e.getMessage()).contains("expected a java.lang.Integer").contains("got a java.lang.String");
    }
}
