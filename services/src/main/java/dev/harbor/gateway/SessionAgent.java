package dev.harbor.gateway;

import dev.harbor.service.CallException;
import dev.harbor.service.Handle;
import dev.harbor.service.Message;
import dev.harbor.service.Service;
import dev.harbor.service.ServiceContext;
import dev.harbor.service.ServiceExitedException;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The service behind one client connection: it parses the client's lines, hands requests to the
 * {@link Session}, writes the answers back, and ends the session in order.
 *
 * <p><b>Ending.</b> A session ends when the client sends {@code QUIT}, when the connection goes, or when
 * the gateway drains ({@link #CLOSE}): the agent then writes {@code * BYE server going down} and waits
 * for the client's {@code QUIT} (at most {@link #QUIT_GRACE}), so that nothing the client sent before it
 * saw the BYE goes unanswered. Requests that arrive while the session is ending are answered
 * {@code ERR}; once every request has its answer, {@link Session#close} saves the session's state, the
 * {@code QUIT} is answered {@code OK bye}, the connection closes after all output is sent, and the agent
 * exits (the gateway learns it from the exit event). The grace is a message the agent sends itself
 * ({@link ServiceContext#after}): dropped if the agent has ended by then.
 *
 * <p><b>State.</b> Every field is owned by this service's handlers, which never run at once; a handler
 * waiting in {@link Session#request} lets others run, which is why {@link #inFlight} is counted.
 */
final class SessionAgent implements Service {
    private static final Logger log = LoggerFactory.getLogger(SessionAgent.class);
    /** Sent by the gateway: end the session, the server is going down. */
    static final Object CLOSE = new Object() {
        @Override
        public String toString() {
            return "close session";
        }
    };
    /** How long a session that was told BYE waits for the client's QUIT before it closes anyway. */
    static final Duration QUIT_GRACE = Duration.ofSeconds(2);
    private static final Object QUIT_GRACE_OVER = new Object();

    private final Connection connection;
    private final Session.Factory sessions;
    private final GatewayMeters meters;
    private Session session;
    private String id;
    private long lastId;
    private int inFlight;
    private long requests;
    private long ok;
    private long err;
    /** Why the session is ending, or null while it is open. */
    private String ending;
    /** The id of the client's QUIT, once it came. */
    private long quitId;
    private boolean clientGone;
    private boolean graceOver;
    private boolean finishing;

    SessionAgent(Connection connection, Session.Factory sessions, GatewayMeters meters) {
        this.connection = connection;
        this.sessions = sessions;
        this.meters = meters;
    }

    @Override
    public void init(ServiceContext ctx) throws Exception {
        id = ctx.self().toString();
        session = sessions.open(id);
        session.start(ctx); // may refuse the session (Session.Refused): init fails, the gateway turns the client away
        connection.attach(ctx.self(), id);
    }

    @Override
    public Object receive(ServiceContext ctx, Message msg) {
        Object p = msg.payload();
        if (p instanceof Connection.Line line) {
            try {
                onLine(ctx, line.text());
            } finally {
                connection.lineDone();
            }
        } else if (p == CLOSE) {
            if (ending == null) {
                ending = "server going down";
                connection.write("* BYE server going down");
                ctx.after(QUIT_GRACE, QUIT_GRACE_OVER); // the agent's own timer, not the connection's I/O
            }
            finishIfDone(ctx);
        } else if (p == QUIT_GRACE_OVER) {
            graceOver = true;
            finishIfDone(ctx);
        } else if (p == Connection.Disconnected.INSTANCE) {
            clientGone = true;
            if (ending == null) {
                ending = "disconnected";
            }
            finishIfDone(ctx);
        } else {
            log.warn("session {}: ignored an unexpected message {}", id, msg);
        }
        return null;
    }

    private void onLine(ServiceContext ctx, String text) {
        Request r;
        try {
            r = Request.parse(text);
        } catch (IllegalArgumentException e) {
            connection.write("* ERR " + e.getMessage());
            return;
        }
        requests++;
        if (r.id() <= lastId) {
            answer(r.id(), false, "request ids must increase: " + r.id() + " is not above " + lastId);
            return;
        }
        lastId = r.id();
        if (r.verb().equals("QUIT")) {
            quitId = r.id();
            if (ending == null) {
                ending = "quit";
            }
            finishIfDone(ctx);
            return;
        }
        if (ending != null) {
            answer(r.id(), false, "session closing (" + ending + "): not done");
            return;
        }
        inFlight++;
        try {
            String reply = session.request(ctx, r.id(), r.verb(), r.text());
            answer(r.id(), true, reply == null ? "" : reply);
        } catch (ServiceExitedException e) {
            throw e; // this agent was ended while it waited: the runtime is unwinding it
        } catch (CallException e) {
            answer(r.id(), false, e.getMessage());
        } catch (Exception e) {
            answer(r.id(), false, e.getMessage() == null ? e.toString() : e.getMessage());
        } finally {
            inFlight--;
        }
        finishIfDone(ctx);
    }

    private void answer(long requestId, boolean success, String text) {
        meters.answered(success);
        if (success) {
            ok++;
            connection.write(requestId + (text.isEmpty() ? " OK" : " OK " + text));
        } else {
            err++;
            connection.write(requestId + " ERR " + text.replace('\n', ' '));
        }
    }

    /** Ends the session once it is ending, every request is answered, and the client quit, left, or had its grace. */
    private void finishIfDone(ServiceContext ctx) {
        if (ending == null || finishing || inFlight > 0) {
            return;
        }
        if (quitId == 0 && !clientGone && !graceOver) {
            return;
        }
        finishing = true;
        if (quitId != 0) {
            ok++; // answered just below, once the state is saved
        }
        try {
            session.close(ctx, new Session.SessionSummary(id, requests, ok, err, ending));
        } catch (ServiceExitedException e) {
            throw e;
        } catch (Exception e) {
            log.error("session {} ({}): its state could not be saved: {}", id, connection.remote(), e.toString());
        }
        if (quitId != 0) {
            connection.write(quitId + " OK bye");
        }
        connection.closeAfterOutput(); // before the exit: the gateway's exit stops the event loops that send it
        ctx.exit();
    }
}
