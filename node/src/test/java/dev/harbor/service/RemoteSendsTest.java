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
        InternalNode.RemoteSends sends = new InternalNode.RemoteSends(node, frames);
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
        InternalNode.RemoteSends sends = new InternalNode.RemoteSends(node, frames);
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
        InternalNode.RemoteSends sends = new InternalNode.RemoteSends(node, frames);
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
        InternalNode.RemoteSends sends = new InternalNode.RemoteSends(node, frames);
        sends.add(REMOTE, gone, "one");
        sends.add(REMOTE, gone, "two");
        sends.add(REMOTE, Handle.of(9, 5), "elsewhere"); // not a handle of this node
        sends.add(REMOTE, Handle.of(node.id(), 1), "never given out");
        sends.flush();
        assertThat(node.deadLetters()).isEqualTo(before + 4);
    }

    /**
     * A transport's frames in miniature: a record is a length byte and that many bytes of UTF-8 text.
     * Records which thread read each payload, and how often.
     */
    private static final class TestFrames implements InternalNode.FrameReader {
        final Map<String, List<Thread>> readBy = new ConcurrentHashMap<>();

        @Override
        public InternalNode.FrameSends sends(byte[] bytes, int start, int end, int count) {
            return new InternalNode.FrameSends(count) {
                private int at = start;
                private int length;

                @Override
                protected void advance() {
                    length = bytes[at++];
                    at += length;
                    assertThat(at).isLessThanOrEqualTo(end);
                }

                @Override
                protected Handle from() {
                    return REMOTE;
                }

                @Override
                protected Object payload() {
                    String value = new String(bytes, at - length, length, StandardCharsets.UTF_8);
                    readBy.computeIfAbsent(value, v -> new CopyOnWriteArrayList<>()).add(Thread.currentThread());
                    return value;
                }
            };
        }

        /** A frame of sends of {@code values}, in that order, after a byte that is none of theirs. */
        Frame frame(String... values) {
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
            out.write(-1);
            int[] starts = new int[values.length + 1];
            for (int i = 0; i < values.length; i++) {
                starts[i] = out.size();
                byte[] utf8 = values[i].getBytes(StandardCharsets.UTF_8);
                out.write(utf8.length);
                out.writeBytes(utf8);
            }
            starts[values.length] = out.size();
            return new Frame(out.toByteArray(), starts);
        }
    }

    private record Frame(byte[] bytes, int[] starts) {
        /** Adds the send of the frame's {@code i}th value to {@code to}, left in the frame. */
        void add(InternalNode.RemoteSends sends, Handle to, int i) {
            sends.addInFrame(to, bytes, starts[i], starts[i + 1], 1);
        }
    }

    private final TestFrames frames = new TestFrames();

    /** Reads each payload twice and records the thread it handled it on. */
    private static final class TwiceReader implements Service {
        final List<Object> got = new CopyOnWriteArrayList<>();
        final List<Thread> threads = new CopyOnWriteArrayList<>();

        @Override
        public Object receive(ServiceContext ctx, Message m) {
            Object first = m.payload();
            assertThat(m.payload()).isSameAs(first);
            assertThat(m.payload(String.class)).isSameAs(first);
            assertThat(m.toString()).endsWith(": " + first);
            got.add(first);
            threads.add(Thread.currentThread());
            return null;
        }
    }

    @Test
    void aFrameOfSendsToOneServiceIsReadByItsThreadAndAnyOtherFrameByTheReader() {
        TwiceReader a = new TwiceReader();
        TwiceReader b = new TwiceReader();
        Handle ha = node.launch(() -> a);
        Handle hb = node.launch(() -> b);
        InternalNode.RemoteSends sends = new InternalNode.RemoteSends(node, frames);
        // One frame: a send to a, one to b. Neither may keep the frame's bytes alive in a's or b's mailbox.
        Frame first = frames.frame("to a", "to b");
        first.add(sends, ha, 0);
        first.add(sends, hb, 1);
        sends.endFrame();
        // The next: a call (the reader flushes before it), then a send.
        sends.flush();
        frames.frame("after a call").add(sends, ha, 0);
        sends.endFrame();
        // The last: sends to a only, which are left to a's thread.
        Frame last = frames.frame("last 1", "last 2");
        last.add(sends, ha, 0);
        last.add(sends, ha, 1);
        sends.endFrame();
        await().atMost(WAIT).until(() -> a.got.size() == 4 && b.got.size() == 1);

        Thread reader = Thread.currentThread();
        assertThat(frames.readBy.get("to a")).containsExactly(reader);
        assertThat(frames.readBy.get("to b")).containsExactly(reader);
        assertThat(frames.readBy.get("after a call")).containsExactly(reader);
        assertThat(frames.readBy.get("last 1")).as("read once, by the handler's thread").containsExactly(a.threads.get(2));
        assertThat(frames.readBy.get("last 2")).containsExactly(a.threads.get(3));
        assertThat(a.threads.subList(2, 4)).doesNotContain(reader);
        assertThat(a.got).containsExactly("to a", "after a call", "last 1", "last 2");
        assertThat(b.got).containsExactly("to b");
    }

    @Test
    void sendsLeftInTheirFrameAndDecodedSendsToOneServiceKeepTheirOrder() {
        TwiceReader a = new TwiceReader();
        Handle ha = node.launch(() -> a);
        InternalNode.RemoteSends sends = new InternalNode.RemoteSends(node, frames);
        Frame frame = frames.frame("1", "2", "4");
        frame.add(sends, ha, 0);
        frame.add(sends, ha, 1);
        sends.add(REMOTE, ha, "3, decoded by the reader");
        frame.add(sends, ha, 2);
        sends.endFrame();
        await().atMost(WAIT).until(() -> a.got.size() == 4);
        assertThat(a.got).containsExactly("1", "2", "3, decoded by the reader", "4");
        assertThat(frames.readBy.get("1")).as("made into messages before the decoded one joined them")
                .containsExactly(Thread.currentThread());
    }

    @Test
    void aServiceThatEndsWithSendsLeftInTheirFrameCountsEachAsADeadLetter() throws Exception {
        Recorder a = new Recorder();
        Handle ha = node.launch(() -> a);
        InternalNode.RemoteSends sends = new InternalNode.RemoteSends(node, frames);
        Frame first = frames.frame("block", "x1", "x2", "x3", "x4"); // the rest of the run whose first send blocks
        for (int i = 0; i < 5; i++) {
            first.add(sends, ha, i);
        }
        sends.endFrame();
        Frame second = frames.frame("y1", "y2", "y3"); // a second run, still in the mailbox
        for (int i = 0; i < 3; i++) {
            second.add(sends, ha, i);
        }
        sends.endFrame();
        assertThat(a.entered.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
        assertThat(find(ha).mailboxDepth()).as("x1..x4 behind the send being handled, and y1..y3").isEqualTo(7);
        long before = node.deadLetters();

        assertThat(node.kill(ha)).isTrue();
        a.gate.complete(null);
        await().atMost(WAIT).until(() -> node.deadLetters() == before + 7);
        assertThat(a.got).containsExactly("block");
    }

    @Test
    void aMessageAServiceKeepsDoesNotKeepItsFrame() {
        List<Message> kept = new CopyOnWriteArrayList<>();
        Handle keeper = node.launch(() -> (ctx, m) -> {
            kept.add(m);
            return null;
        });
        InternalNode.RemoteSends sends = new InternalNode.RemoteSends(node, frames);
        Frame frame = frames.frame("kept 1", "kept 2");
        frame.add(sends, keeper, 0);
        frame.add(sends, keeper, 1);
        java.lang.ref.WeakReference<byte[]> frameRef = new java.lang.ref.WeakReference<>(frame.bytes());
        sends.endFrame();
        frame = null;
        await().atMost(WAIT).until(() -> kept.size() == 2);

        await().atMost(WAIT).until(() -> {
            System.gc();
            return frameRef.get() == null;
        });
        assertThat(kept).extracting(Message::payload).containsExactly("kept 1", "kept 2");
    }
}
