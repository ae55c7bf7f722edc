package dev.harbor.gateway;

import dev.harbor.service.ServiceContext;

/**
 * The application behind a {@link Gateway}: what one client session does with the client's requests.
 * The gateway makes one instance per connection (through a public constructor taking the session's
 * id, a {@code String}) and calls it only from that session's agent service.
 *
 * <p><b>Threading.</b> Calls never overlap in time, but a request that waits in {@code ctx.call}
 * lets the session's next request start (the agent is a service: see {@link dev.harbor.service.Service}),
 * so requests of one client may be answered out of order. {@link #close} runs once, after every
 * request has been answered.
 */
public interface Session {

    /**
     * Answers one request.
     *
     * @param ctx the session's agent service
     * @param id the request's id, greater than every earlier one of this session
     * @param verb the request's verb, upper case
     * @param text the rest of the line, possibly empty
     * @return the text after {@code <id> OK} (may be empty)
     * @throws Exception to answer {@code <id> ERR <message>}; the session lives on
     */
    String request(ServiceContext ctx, long id, String verb, String text) throws Exception;

    /**
     * Decides whether the session may begin, before the client is told {@code * HELLO}: called once, on
     * the session's agent service, after the session object is made. Throw {@link Refused} to turn the
     * client away while the session cannot be served (what it needs is not up yet): the client is told
     * {@code * BYE <message>} and disconnected, {@link #close} is not called (there is nothing to save),
     * and the gateway logs it at INFO. Any other exception does the same but is logged as a WARN.
     */
    default void start(ServiceContext ctx) throws Exception {
    }

    /**
     * Saves what must outlive the session. Runs once when the session ends, whether the client quit,
     * went away, or the gateway is draining; the connection is closed after it returns.
     *
     * @throws Exception if the state could not be saved; it is logged, and the connection still closes
     */
    default void close(ServiceContext ctx, SessionSummary summary) throws Exception {
    }

    /** A session turned away at its start, for a reason the client is told ({@code * BYE <message>}). */
    final class Refused extends Exception {
        private static final long serialVersionUID = 1L;

        public Refused(String message) {
            super(message);
        }
    }

    /** Makes the session object of each new connection. */
    @FunctionalInterface
    interface Factory {
        /**
         * @param session the new session's id (its agent's handle, unique for ever)
         * @throws Exception if the session cannot start; the client is then disconnected
         */
        Session open(String session) throws Exception;
    }

    /**
     * How a session went.
     *
     * @param session the session's id
     * @param requests requests received (including refused ones)
     * @param answeredOk requests answered {@code OK}
     * @param answeredErr requests answered {@code ERR}
     * @param why why it ended: {@code quit}, {@code disconnected} or {@code server going down}
     */
    record SessionSummary(String session, long requests, long answeredOk, long answeredErr, String why) {
    }
}
