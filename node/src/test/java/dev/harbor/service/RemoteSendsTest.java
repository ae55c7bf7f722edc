package dev.harbor.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Sends from another node handed to a service together ({@link InternalNode.RemoteSends}, as the
 * transport does with the sends of one frame): the order they came in, the mailbox depth that counts
 * each, and a dead letter for each one a service that ends never handles.
 */
@Timeout(30)
class RemoteSendsTest extends NodeFixture {
    /** A sender on another node: these tests only need its handle. */
    private static final Handle REMOTE = Handle.of(2, 42);

    /** Records each send (sender and payload); blocks on "block" until {@link #gate} opens. */
    private static final class Recorder implements Service {
        final List<String> got = new CopyOnWriteArrayList<>();
        final CountDownLatch entered = new CountDownLatch(1);
        final CompletableFuture<Void> gate = new CompletableFuture<>();

        @Override
        public Object receive(ServiceContext ctx, Message m) {
            got.add(m.payload() + (REMOTE.equals(m.from()) ? "" : " from " + m.from()));
            if ("block".equals(m.payload())) {
                entered.countDown();
                gate.join();
            }
            return null;
        }
    }

    private ServiceInfo find(Handle h) {
        return node.services().stream().filter(i -> i.handle().equals(h)).findFirst().orElseThrow();
    }

    @Test
    void sendsComeInTheOrderTheyCameAndTheMailboxDepthCountsEachOne() throws Exception {
        Recorder a = new Recorder();
        Recorder b = new Recorder();
        Handle ha = node.launch(() -> a);
        Handle hb = node.launch(() -> b);
        InternalNode.RemoteSends sends = new InternalNode.RemoteSends(node);
        sends.add(REMOTE, ha, "block");
        sends.add(REMOTE, ha, "a1");
        sends.add(REMOTE, ha, "a2");
        sends.add(REMOTE, hb, "b1"); // hands a's first three over as one item
        sends.add(REMOTE, ha, "a3");
        sends.flush();
        assertThat(a.entered.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();

        assertThat(find(ha).mailboxDepth()).as("a1 and a2 behind the send being handled, and a3").isEqualTo(3);
        a.gate.complete(null);
        await().atMost(WAIT).until(() -> a.got.size() == 4 && b.got.size() == 1);
        assertThat(a.got).containsExactly("block", "a1", "a2", "a3");
        assertThat(b.got).containsExactly("b1");
        assertThat(find(ha).mailboxDepth()).isZero();
    }

    @Test
    void aHandlerThatWaitsForACallLetsTheRestOfItsSendsBeHandledMeanwhile() throws Exception {
        CompletableFuture<Void> slow = new CompletableFuture<>();
        Handle callee = node.launch(() -> (ctx, m) -> slow.join());
        List<String> got = new CopyOnWriteArrayList<>();
        Handle ha = node.launch(() -> (ctx, m) -> {
            if ("call".equals(m.payload())) {
                got.add("call answered " + ctx.call(callee, "take your time", WAIT));
            } else {
                got.add((String) m.payload());
            }
            return null;
        });
        InternalNode.RemoteSends sends = new InternalNode.RemoteSends(node);
        sends.add(REMOTE, ha, "call");
        sends.add(REMOTE, ha, "a1");
        sends.add(REMOTE, ha, "a2");
        sends.flush(); // one item, and nothing else in the mailbox: the waiting handler must not hold up a1 and a2

        await().atMost(WAIT).until(() -> got.size() == 2);
        assertThat(got).containsExactly("a1", "a2");
        slow.complete(null);
        await().atMost(WAIT).until(() -> got.size() == 3);
        assertThat(got).containsExactly("a1", "a2", "call answered null");
    }

    @Test
    void aServiceThatEndsWithSendsStillToHandleCountsEachAsADeadLetter() throws Exception {
        Recorder a = new Recorder();
        Handle ha = node.launch(() -> a);
        InternalNode.RemoteSends sends = new InternalNode.RemoteSends(node);
        sends.add(REMOTE, ha, "block");
        for (int i = 1; i <= 4; i++) {
            sends.add(REMOTE, ha, "x" + i); // the rest of the item whose first send blocks
        }
        sends.flush();
        for (int i = 1; i <= 3; i++) {
            sends.add(REMOTE, ha, "y" + i); // a second item, still in the mailbox
        }
        sends.flush();
        assertThat(a.entered.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
        long before = node.deadLetters();

        assertThat(node.kill(ha)).isTrue();
        a.gate.complete(null); // the handler returns; its runner finds the service dead
        await().atMost(WAIT).until(() -> node.deadLetters() == before + 7);
        assertThat(a.got).containsExactly("block");
    }

    @Test
    void sendsToAServiceThatIsGoneOrToAnotherNodesHandleAreDeadLetters() {
        Handle gone = echo();
        assertThat(node.kill(gone)).isTrue();
        await().atMost(WAIT).until(() -> node.services().stream().noneMatch(i -> i.handle().equals(gone)));
        long before = node.deadLetters();
        InternalNode.RemoteSends sends = new InternalNode.RemoteSends(node);
        sends.add(REMOTE, gone, "one");
        sends.add(REMOTE, gone, "two");
        sends.add(REMOTE, Handle.of(9, 5), "elsewhere"); // not a handle of this node
        sends.add(REMOTE, Handle.of(node.id(), 1), "never given out");
        sends.flush();
        assertThat(node.deadLetters()).isEqualTo(before + 4);
    }

    /** Decodes "wire form" (a string's UTF-8 bytes) and records which thread decoded each payload, and how often. */
    private static final class CountingDecoder implements InternalNode.Decoder {
        final Map<String, List<Thread>> decodedBy = new ConcurrentHashMap<>();

        @Override
        public Object decode(int tag, byte[] bytes, int offset, int length) {
            String value = new String(bytes, offset, length, StandardCharsets.UTF_8); // never the same object: a second decode would show
            decodedBy.computeIfAbsent(value, v -> new CopyOnWriteArrayList<>()).add(Thread.currentThread());
            return value;
        }

        /** Adds a send of {@code value} in its wire form, in a frame of its own with a byte before and after it. */
        void add(InternalNode.RemoteSends sends, Handle to, String value) {
            byte[] utf8 = value.getBytes(StandardCharsets.UTF_8);
            byte[] frame = new byte[utf8.length + 2];
            System.arraycopy(utf8, 0, frame, 1, utf8.length);
            sends.addUndecoded(REMOTE, to, this, 7, frame, 1, utf8.length);
        }
    }

    /** Reads each payload twice and records the thread it handled it on. */
    private static final class TwiceReader implements Service {
        final List<Object> got = new CopyOnWriteArrayList<>();
        final List<Thread> threads = new CopyOnWriteArrayList<>();

        @Override
        public Object receive(ServiceContext ctx, Message m) {
            Object first = m.payload();
            assertThat(m.payload()).isSameAs(first); // decoded once, then kept
            assertThat(m.payload(String.class)).isSameAs(first);
            assertThat(m.toString()).endsWith(": " + first);
            got.add(first);
            threads.add(Thread.currentThread());
            return null;
        }
    }

    @Test
    void aFrameOfSendsToOneServiceIsDecodedByItsThreadAndAnyOtherFrameByTheReader() {
        TwiceReader a = new TwiceReader();
        TwiceReader b = new TwiceReader();
        Handle ha = node.launch(() -> a);
        Handle hb = node.launch(() -> b);
        CountingDecoder decoder = new CountingDecoder();
        InternalNode.RemoteSends sends = new InternalNode.RemoteSends(node);
        // One frame: a send to a, one to b. Neither may keep the frame's bytes alive in a's or b's mailbox.
        decoder.add(sends, ha, "to a");
        decoder.add(sends, hb, "to b");
        sends.endFrame();
        // The next: a call (the reader flushes before it), then a send.
        sends.flush();
        decoder.add(sends, ha, "after a call");
        sends.endFrame();
        // The last: sends to a only, which are left to a's thread.
        decoder.add(sends, ha, "last 1");
        decoder.add(sends, ha, "last 2");
        sends.endFrame();
        await().atMost(WAIT).until(() -> a.got.size() == 4 && b.got.size() == 1);

        Thread reader = Thread.currentThread();
        assertThat(decoder.decodedBy.get("to a")).containsExactly(reader);
        assertThat(decoder.decodedBy.get("to b")).containsExactly(reader);
        assertThat(decoder.decodedBy.get("after a call")).containsExactly(reader);
        assertThat(decoder.decodedBy.get("last 1")).as("decoded once, by the handler's thread").containsExactly(a.threads.get(2));
        assertThat(decoder.decodedBy.get("last 2")).containsExactly(a.threads.get(3));
        assertThat(a.threads.subList(2, 4)).doesNotContain(reader);
        assertThat(a.got).containsExactly("to a", "after a call", "last 1", "last 2");
        assertThat(b.got).containsExactly("to b");
    }

    @Test
    void aMessageAServiceKeepsNoLongerKeepsItsFrameOnceItsPayloadIsRead() {
        List<Message> kept = new CopyOnWriteArrayList<>();
        Handle keeper = node.launch(() -> (ctx, m) -> {
            m.payload();
            kept.add(m);
            return null;
        });
        byte[] frame = "..kept..".getBytes(StandardCharsets.UTF_8);
        java.lang.ref.WeakReference<byte[]> frameRef = new java.lang.ref.WeakReference<>(frame);
        InternalNode.RemoteSends sends = new InternalNode.RemoteSends(node);
        sends.addUndecoded(REMOTE, keeper, new CountingDecoder(), 7, frame, 2, 4);
        sends.endFrame();
        frame = null;
        await().atMost(WAIT).until(() -> kept.size() == 1);

        await().atMost(WAIT).until(() -> {
            System.gc();
            return frameRef.get() == null;
        });
        assertThat(kept.get(0).payload()).isEqualTo("kept");
    }
}
