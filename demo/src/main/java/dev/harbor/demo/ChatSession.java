package dev.harbor.demo;

import dev.harbor.gateway.Session;
import dev.harbor.proto.Committed;
import dev.harbor.proto.Record;
import dev.harbor.service.ServiceContext;
import java.time.Duration;

/**
 * The demo's application: a chat room whose every line is stored. A client's {@code <id> SAY <text>}
 * becomes a {@link Record} (stream = the session, seq = the request id) sent to the writer, wherever in
 * the cluster it runs, and is answered {@code <id> OK stored <commit>} only once the writer has
 * committed it. When the session ends, its summary is stored the same way as record 0 of its stream.
 */
public final class ChatSession implements Session {
    /** The writer's global name. */
    static final String WRITER = dev.harbor.writer.Writer.WRITER_NAME;
    /** How long a SAY waits for the writer before it is answered ERR (the record may still be stored later). */
    static final Duration WRITE_TIMEOUT = Duration.ofSeconds(10);

    private final String session;

    /** @param session the session's id, used as the stream of its records */
    public ChatSession(String session) {
        this.session = session;
    }

    /**
     * Refuses the session while no writer is registered in the cluster (at start-up, before the writer's
     * node has linked): a session could store nothing, not even its own summary, so the client is told
     * {@code * BYE} at once and connects again later, rather than having every line refused and its
     * session's state lost.
     */
    @Override
    public void start(ServiceContext ctx) throws Refused {
        if (ctx.node().whereis(WRITER).isEmpty()) {
            throw new Refused("the chat room is not ready: its writer ('" + WRITER + "') is not up yet; connect again shortly");
        }
    }

    @Override
    public String request(ServiceContext ctx, long id, String verb, String text) {
        if (!verb.equals("SAY")) {
            throw new IllegalArgumentException("unknown verb " + verb + ": this chat room knows SAY <text> and QUIT");
        }
        Committed c = (Committed) ctx.call(WRITER, Record.newBuilder().setStream(session).setSeq(id).setBody(text).build(),
                WRITE_TIMEOUT);
        return "stored " + c.getCommit();
    }

    @Override
    public void close(ServiceContext ctx, SessionSummary s) {
        ctx.call(WRITER, Record.newBuilder().setStream(session).setSeq(0).setBody("session ended (" + s.why() + "): "
                + s.requests() + " requests, " + s.answeredOk() + " ok, " + s.answeredErr() + " refused").build(), WRITE_TIMEOUT);
    }
}
