package dev.harbor.gateway;

import dev.harbor.service.Handle;
import dev.harbor.service.Node;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.TooLongFrameException;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client connection's end of the Netty pipeline: it passes each decoded line to the session's
 * agent service as a message, and gives the agent a way to write frames back.
 *
 * <p><b>Threads.</b> Netty calls the handler methods on the channel's event loop. The agent is set
 * once, by the agent's init ({@link #attach}), before reading is switched on, and read by the event
 * loop afterwards ({@code volatile}). {@link #write} and {@link #close} may be called from any thread
 * (the agent's handlers); Netty keeps the order of writes made by one thread, and the agent's handlers
 * never run at once, so frames go out in the order the agent writes them.
 *
 * <p><b>Back-pressure.</b> Reading stops while more than {@value #HIGH_WATER} lines wait for the agent,
 * and resumes below {@value #LOW_WATER}; a client that pipelines faster than its session answers is
 * slowed by TCP, not buffered without bound.
 */
final class Connection extends SimpleChannelInboundHandler<String> {
    private static final Logger log = LoggerFactory.getLogger(Connection.class);
    static final int HIGH_WATER = 256;
    static final int LOW_WATER = 64;
    private static final int CLOSE_WAIT_SECONDS = 5;

    /** The message an agent receives when its client has gone (or the connection broke). */
    enum Disconnected { INSTANCE }

    /** One line from the client, without its line end. */
    record Line(String text) {
    }

    private final Node node;
    private final Handle gateway;
    private final int maxLine;
    private final AtomicInteger waiting = new AtomicInteger();
    private volatile Channel channel;
    private volatile Handle agent;

    Connection(Node node, Handle gateway, int maxLine) {
        this.node = node;
        this.gateway = gateway;
        this.maxLine = maxLine;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        channel = ctx.channel();
        node.send(gateway, new Gateway.Accepted(this));
        ctx.fireChannelActive();
    }

    /** Binds the connection to its agent, greets the client and starts reading. Called from the agent's init. */
    void attach(Handle agent, String session) {
        this.agent = agent;
        write("* HELLO " + session);
        channel.config().setAutoRead(true);
        if (!channel.isActive()) {
            node.send(agent, Disconnected.INSTANCE); // it went away before it had an agent; a second notice is harmless
        }
    }

    /** Turns a connection away without a session (the gateway is draining): {@code * BYE}, then close. */
    void refuse(String reason) {
        channel.writeAndFlush("* BYE " + reason + "\n").addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, String line) {
        Handle a = agent;
        if (a == null) {
            return; // cannot happen: reading starts only after attach
        }
        if (waiting.incrementAndGet() > HIGH_WATER) {
            ctx.channel().config().setAutoRead(false);
        }
        node.send(a, new Line(line));
    }

    /** The agent has dealt with one line. */
    void lineDone() {
        if (waiting.decrementAndGet() == LOW_WATER) {
            Channel c = channel;
            if (c.isActive() && !c.config().isAutoRead()) {
                c.config().setAutoRead(true);
            }
        }
    }

    /** Sends one frame (a line without its line end). */
    void write(String frame) {
        channel.writeAndFlush(frame + "\n");
    }

    /**
     * Closes the connection once everything written before has been sent, and waits (at most
     * {@value #CLOSE_WAIT_SECONDS} s) until it is closed. Called from the agent's virtual thread.
     */
    void closeAfterOutput() {
        Channel c = channel;
        if (c.eventLoop().isShuttingDown()) {
            c.close(); // the gateway has ended: its event loops close every connection, with or without this
            return;
        }
        try {
            c.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            c.close(); // the event loop stopped between the check and the write
            return;
        }
        if (!c.closeFuture().awaitUninterruptibly(CLOSE_WAIT_SECONDS, java.util.concurrent.TimeUnit.SECONDS)) {
            log.warn("gateway connection {}: output not sent within {} s; closing it anyway", c.remoteAddress(), CLOSE_WAIT_SECONDS);
            c.close();
        }
    }

    /** Runs {@code task} on the connection's event loop after {@code delay}. */
    void schedule(java.time.Duration delay, Runnable task) {
        channel.eventLoop().schedule(task, delay.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    /** The client's address, for logs. */
    String remote() {
        Channel c = channel;
        return c == null ? "?" : String.valueOf(c.remoteAddress());
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        Handle a = agent;
        if (a != null) {
            node.send(a, Disconnected.INSTANCE);
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof TooLongFrameException) {
            ctx.writeAndFlush("* ERR line longer than " + maxLine + " bytes; closing the connection\n")
                    .addListener(ChannelFutureListener.CLOSE);
        } else {
            log.debug("gateway connection {}: {}; closing it", ctx.channel().remoteAddress(), cause.toString());
            ctx.close();
        }
    }
}
