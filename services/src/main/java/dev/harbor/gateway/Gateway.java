package dev.harbor.gateway;

import dev.harbor.proto.Drain;
import dev.harbor.service.ExitEvent;
import dev.harbor.service.ExitReason;
import dev.harbor.service.Handle;
import dev.harbor.service.Message;
import dev.harbor.service.Service;
import dev.harbor.service.ServiceContext;
import dev.harbor.shutdown.OrderedExit;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.string.StringDecoder;
import io.netty.handler.codec.string.StringEncoder;
import java.lang.reflect.Constructor;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The reference gateway: a TCP server for clients, with one agent service per connection that runs
 * the application's {@link Session}. It registers with the shutdown coordinator as
 * {@link OrderedExit#GATEWAY}, so it is drained first.
 *
 * <p><b>The client protocol</b> is UTF-8 text, one frame per line ({@code \n}, lines of at most
 * {@value #MAX_LINE} bytes):
 * <ul>
 *   <li>on connecting, the client receives {@code * HELLO <session>} and must wait for it before sending;</li>
 *   <li>a request is {@code <id> <VERB> [text]}, ids increasing from 1 within the session; each request is
 *       answered exactly once, {@code <id> OK [text]} or {@code <id> ERR <reason>} (answers may come out
 *       of order);</li>
 *   <li>{@code <id> QUIT} ends the session: every earlier request is answered, the session is saved, the
 *       QUIT is answered {@code <id> OK bye} and the server closes the connection;</li>
 *   <li>{@code * BYE <reason>} says the server is going down: the client sends {@code <id> QUIT} and
 *       nothing else after it (requests already on their way are answered {@code ERR});</li>
 *   <li>a line that is not a request is answered {@code * ERR <reason>}; a line that is too long is
 *       answered {@code * ERR ...} and the connection is closed.</li>
 * </ul>
 *
 * <p><b>Drain</b> (on the coordinator's {@link Drain}): the listening socket is closed first, so new
 * connections are refused; then the sessions are closed, each as {@link SessionAgent} says, at most
 * {@value #CLOSING_AT_ONCE} at a time; the gateway exits when the last one has. It learns that a session
 * has ended from the agent's exit event, as the coordinator does.
 *
 * <p><b>Threads.</b> The fields below are owned by the gateway's handlers (which never run at once),
 * except the event loops, the group of open channels and the meters, which init sets and the
 * gateway's exit hook ({@link #onEnd}, on whichever thread ended it) closes and removes. Netty's event
 * loops only send the gateway messages ({@link Accepted}).
 *
 * <p><b>Meters</b> (on the node's {@code /metrics}, tagged {@code gateway=<host:port>}, removed when the
 * gateway ends): {@code harbor_gateway_sessions} (open now), {@code harbor_gateway_requests_total{answer=ok|err}},
 * {@code harbor_gateway_connections_refused_total} (while draining, or a session that could not start).
 *
 * <p>In a node's config: {@code services=dev.harbor.gateway.Gateway(0.0.0.0:9000;com.example.MySession)},
 * optionally with a third argument, the drain timeout in milliseconds (default {@value #DEFAULT_DRAIN_MS}).
 */
public final class Gateway implements Service {
    private static final Logger log = LoggerFactory.getLogger(Gateway.class);
    /** The tag that says where the gateway listens (host:port, with the real port if 0 was asked for). */
    public static final String LISTEN_TAG = "gateway.listen";
    public static final int MAX_LINE = 4096;
    static final int CLOSING_AT_ONCE = 1024;
    static final long DEFAULT_DRAIN_MS = 5_000;

    /** Sent by a connection's event loop when a client has connected. */
    record Accepted(Connection connection) {
    }

    /** A session's agent has started (or failed to: {@code failure}). */
    private record Launched(Connection connection, Handle agent, Throwable failure) {
    }

    private final String listen;
    private final Session.Factory sessions;
    private final Duration drainTimeout;
    private Channel server;
    /**
     * The listener's own event loop, apart from the connections' so that the drain can stop it: made by
     * init, shut down by the drain or else by the exit hook.
     */
    private volatile EventLoopGroup listenerLoop;
    /** The event loops of the connections: made by init, shut down by the exit hook. */
    private volatile EventLoopGroup loops;
    /** The listener and every open connection; a concurrent group (Netty's), read by {@link #queuedOutput}, closed by the exit hook. */
    private volatile io.netty.channel.group.ChannelGroup channels;
    /** Live agents. */
    private final Set<Handle> agents = new HashSet<>();
    /** Made in init, once the listener is bound (its address tags the meters); removed by the exit hook. */
    private GatewayMeters meters;
    /** Agents not yet told to close, in the order they came (drain only). */
    private final LinkedHashSet<Handle> toClose = new LinkedHashSet<>();
    private final Set<Handle> closing = new HashSet<>();
    private int launching;
    private boolean draining;

    /**
     * A gateway for the node config: {@code (listen; session class)} or {@code (listen; session class; drain ms)}.
     * The session class needs a public constructor taking the session id.
     *
     * @throws IllegalArgumentException naming what is wrong
     */
    public Gateway(String listen, String sessionClass) {
        this(listen, sessionClass, Long.toString(DEFAULT_DRAIN_MS));
    }

    /** As {@link #Gateway(String, String)}, with the drain timeout in milliseconds. */
    public Gateway(String listen, String sessionClass, String drainTimeoutMs) {
        this(listen, factoryOf(sessionClass), Duration.ofMillis(parseMillis(drainTimeoutMs)));
    }

    /**
     * A gateway.
     *
     * @param listen host:port to listen on (port 0: a free port, see {@link #LISTEN_TAG})
     * @param sessions makes each connection's session
     * @param drainTimeout how long its drain may take, for the coordinator's plan
     */
    public Gateway(String listen, Session.Factory sessions, Duration drainTimeout) {
        parseAddress(listen);
        this.listen = listen;
        this.sessions = sessions;
        this.drainTimeout = drainTimeout;
    }

    @Override
    public void init(ServiceContext ctx) throws Exception {
        Handle self = ctx.self();
        EventLoopGroup l = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        listenerLoop = l;
        EventLoopGroup g = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
        loops = g;
        // However the gateway ends (drained, killed, its node stopped, its init failed), onEnd closes
        // every connection still open (their agents then see them go) and stops its event loops.
        io.netty.channel.group.ChannelGroup open = new io.netty.channel.group.DefaultChannelGroup(
                io.netty.util.concurrent.GlobalEventExecutor.INSTANCE);
        channels = open;
        var node = ctx.node();
        try {
            server = new ServerBootstrap().group(l, g).channel(NioServerSocketChannel.class)
                    .option(ChannelOption.SO_BACKLOG, 1024)
                    .childOption(ChannelOption.AUTO_READ, false) // reading starts when the session's agent is up
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, Connection.writeWaterMark())
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            open.add(ch); // removed again when it closes
                            Connection connection = new Connection(node, self, MAX_LINE);
                            ch.pipeline().addLast(connection.decoder(),
                                    new StringDecoder(StandardCharsets.UTF_8), new StringEncoder(StandardCharsets.UTF_8),
                                    connection);
                        }
                    })
                    .bind(parseAddress(listen)).sync().channel();
        } catch (Exception e) {
            l.shutdownGracefully(0, 0, java.util.concurrent.TimeUnit.SECONDS);
            g.shutdownGracefully(0, 0, java.util.concurrent.TimeUnit.SECONDS);
            throw new IllegalStateException("gateway cannot listen on " + listen + ": " + e.getMessage()
                    + "; is another process using that port?", e);
        }
        open.add(server);
        InetSocketAddress bound = (InetSocketAddress) server.localAddress();
        String where = bound.getHostString() + ":" + bound.getPort();
        meters = new GatewayMeters(node.lookup(MeterRegistry.class).orElseGet(CompositeMeterRegistry::new), where);
        ctx.tag(LISTEN_TAG, where);
        OrderedExit.register(ctx, OrderedExit.GATEWAY, drainTimeout);
        log.info("gateway {} listening on {}", self, bound);
    }

    /**
     * However the gateway ends: closes the listener and every connection still open (their agents see
     * them go and end their sessions), then stops the event loops, without waiting for either; removes
     * the meters. On the thread that ended it, before its exit event.
     */
    @Override
    public void onEnd(ServiceContext ctx, ExitReason reason) {
        GatewayMeters mine = meters;
        if (mine != null) { // null if init failed before the listener was bound
            mine.remove();
        }
        EventLoopGroup l = listenerLoop;
        EventLoopGroup g = loops;
        io.netty.channel.group.ChannelGroup open = channels;
        // The channels first, then their loops: a loop that has stopped can no longer close its channels.
        // Stopping the listener's loop again after a drain does nothing.
        Runnable stopLoops = () -> {
            if (l != null) {
                l.shutdownGracefully(0, 0, java.util.concurrent.TimeUnit.SECONDS);
            }
            if (g != null) {
                g.shutdownGracefully(0, 2, java.util.concurrent.TimeUnit.SECONDS);
            }
        };
        if (open != null) {
            open.close().addListener(done -> stopLoops.run());
        } else {
            stopLoops.run();
        }
    }

    @Override
    public Object receive(ServiceContext ctx, Message msg) throws Exception {
        Object p = msg.payload();
        if (p instanceof Accepted a) {
            accept(ctx, a.connection());
        } else if (p instanceof Launched l) {
            launched(ctx, l);
        } else if (p instanceof ExitEvent exit) {
            agents.remove(exit.handle());
            meters.sessions(agents.size());
            toClose.remove(exit.handle());
            closing.remove(exit.handle());
            closeMore(ctx);
        } else if (p instanceof Drain) {
            drain(ctx);
        } else {
            throw new IllegalArgumentException("a gateway takes Drain, not " + p);
        }
        return null;
    }

    private void accept(ServiceContext ctx, Connection connection) {
        if (draining) {
            meters.refused();
            connection.refuse("server going down");
            return;
        }
        // Sessions start in parallel: the gateway does not wait for one's init before taking the
        // next connection. It counts the launches in progress so that a drain waits for them too.
        launching++;
        Handle self = ctx.self();
        var node = ctx.node();
        GatewayMeters counting = meters;
        node.launchAsync(() -> new SessionAgent(connection, sessions, counting))
                .whenComplete((agent, failure) -> node.send(self, new Launched(connection, agent, failure)));
    }

    private void launched(ServiceContext ctx, Launched l) {
        launching--;
        if (l.failure() != null) {
            Throwable cause = l.failure().getCause() != null ? l.failure().getCause() : l.failure();
            meters.refused();
            if (cause instanceof Session.Refused refused) {
                // The application's own decision (say, what it needs is not up yet): no fault of ours.
                log.info("gateway {}: a session for {} was refused: {}", ctx.self(), l.connection().remote(), refused.getMessage());
                l.connection().refuse(refused.getMessage());
            } else {
                log.warn("gateway {}: a session for {} could not start: {}", ctx.self(), l.connection().remote(), cause.toString());
                l.connection().refuse("session could not start: " + cause.getMessage());
            }
        } else {
            agents.add(l.agent());
            meters.sessions(agents.size());
            ctx.watch(l.agent());
            if (draining) {
                toClose.add(l.agent()); // the drain began while it was starting
            }
        }
        closeMore(ctx);
    }

    private void drain(ServiceContext ctx) {
        if (draining) {
            return;
        }
        draining = true;
        // From here on, new connections are refused, and not accepted and then reset. Closing a channel
        // that is registered with a selector only marks it closed: the JDK closes its socket when the
        // selector next runs, and until then the kernel still accepts connections into its backlog
        // (one connect in eight right after the close in a loop of 2,000 on a 2-core machine). Stopping
        // the listener's own event loop closes its selector, which closes the socket, before this returns.
        server.close().syncUninterruptibly();
        listenerLoop.shutdownGracefully(0, 0, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
        toClose.addAll(agents);
        log.info("gateway {}: draining; listener closed, closing {} session(s)", ctx.self(), agents.size());
        closeMore(ctx);
    }

    /** Tells sessions to close, keeping {@value #CLOSING_AT_ONCE} closing at a time; exits when all are gone. */
    private void closeMore(ServiceContext ctx) {
        if (!draining) {
            return;
        }
        var it = toClose.iterator();
        while (closing.size() < CLOSING_AT_ONCE && it.hasNext()) {
            Handle h = it.next();
            it.remove();
            closing.add(h);
            ctx.send(h, SessionAgent.CLOSE);
        }
        if (agents.isEmpty() && launching == 0) {
            log.info("gateway {}: every session closed; exiting", ctx.self());
            ctx.exit();
        }
    }

    /**
     * The output bytes each open connection holds now, written but not yet taken by its socket (what a
     * client that does not read its answers costs the node). Any thread.
     */
    List<Long> queuedOutput() {
        List<Long> out = new ArrayList<>();
        io.netty.channel.group.ChannelGroup group = channels;
        if (group != null) {
            for (Channel c : group) {
                io.netty.channel.ChannelOutboundBuffer buffer = c.unsafe().outboundBuffer();
                if (c != server && buffer != null) {
                    out.add(buffer.totalPendingWriteBytes());
                }
            }
        }
        return out;
    }

    /** Whether the gateway's event loops have stopped (it has ended and its clean-up is over). Any thread. */
    boolean loopsStopped() {
        EventLoopGroup g = loops;
        return g != null && g.isTerminated();
    }

    static InetSocketAddress parseAddress(String listen) {
        int colon = listen == null ? -1 : listen.lastIndexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("gateway: expected host:port to listen on, got '" + listen + "'");
        }
        try {
            int port = Integer.parseInt(listen.substring(colon + 1));
            if (port < 0 || port > 65535) {
                throw new NumberFormatException();
            }
            return new InetSocketAddress(listen.substring(0, colon), port);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("gateway: the port in '" + listen + "' must be 0-65535");
        }
    }

    private static long parseMillis(String ms) {
        try {
            long v = Long.parseLong(ms.strip());
            if (v > 0) {
                return v;
            }
        } catch (NumberFormatException e) {
            // answered below
        }
        throw new IllegalArgumentException("gateway: the drain timeout must be a positive number of milliseconds, got '" + ms + "'");
    }

    private static Session.Factory factoryOf(String className) {
        Constructor<? extends Session> c;
        try {
            Class<?> type = Class.forName(className.strip(), false, Gateway.class.getClassLoader());
            if (!Session.class.isAssignableFrom(type)) {
                throw new IllegalArgumentException("gateway: " + className + " is not a " + Session.class.getName());
            }
            c = type.asSubclass(Session.class).getConstructor(String.class);
        } catch (ClassNotFoundException e) {
            throw new IllegalArgumentException("gateway: no session class " + className + " on the class path");
        } catch (NoSuchMethodException e) {
            throw new IllegalArgumentException("gateway: " + className + " needs a public constructor taking the session id (a String)");
        }
        return session -> c.newInstance(session);
    }
}
