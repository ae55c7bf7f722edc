package dev.harbor.gateway;

import dev.harbor.service.Handle;
import dev.harbor.service.NodeView;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.LineBasedFrameDecoder;
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
 * <p><b>Back-pressure.</b> The connection hands its agent no further line, and stops reading from the
 * socket, while {@value #HIGH_WATER} lines wait for the agent (until they are down to {@value #LOW_WATER}),
 * or while the channel is not writable: more than {@value #WRITE_HIGH_WATER} bytes of answers wait for a
 * client that does not read them (until they are down to {@value #WRITE_LOW_WATER}). Bytes already read
 * stay in the line decoder, undecoded, until then. So a client that pipelines faster than its session
 * answers, or than it reads its answers, is slowed by TCP, not buffered without bound: the node holds per
 * connection at most one socket read of undecoded bytes, {@value #HIGH_WATER} lines, and the answers to
 * those on top of the write high-water mark. Answers are written whatever the writability (they are
 * owed); if one finds more than {@value #MAX_QUEUED_OUTPUT} bytes queued (long answers), the
 * connection is closed, and its session ends as if the client had gone.
 *
 * <p>The decision to pass a line on is made on the event loop (in the decoder); the count of lines
 * waiting is atomic because the agent lowers it from its own thread, and schedules a resume on the
 * event loop when it reaches {@value #LOW_WATER}.
 */
final class Connection extends SimpleChannelInboundHandler<String> {
    private static final Logger log = LoggerFactory.getLogger(Connection.class);
    static final int HIGH_WATER = 256;
    static final int LOW_WATER = 64;
    /** Answers queued for the client above which reading stops (Netty's write-buffer high-water mark). */
    static final int WRITE_HIGH_WATER = 64 * 1024;
    /** ... and below which it may start again. */
    static final int WRITE_LOW_WATER = 32 * 1024;
    private static final int CLOSE_WAIT_SECONDS = 5;
    /** Output a connection may hold for a client that does not read it; past this, the connection is closed. */
    static final long MAX_QUEUED_OUTPUT = 1 << 20;

    /** The message an agent receives when its client has gone (or the connection broke). */
    enum Disconnected { INSTANCE }

    /** One line from the client, without its line end. */
    record Line(String text) {
    }

    private final NodeView node;
    private final Handle gateway;
    private final int maxLine;
    private final AtomicInteger waiting = new AtomicInteger();
    /** Set once, by the write that found too much output queued and closed the connection. */
    private final java.util.concurrent.atomic.AtomicBoolean overflowed = new java.util.concurrent.atomic.AtomicBoolean();
    private volatile Channel channel;
    private volatile Handle agent;
    private final GatedDecoder decoder;

    Connection(NodeView node, Handle gateway, int maxLine) {
        this.node = node;
        this.gateway = gateway;
        this.maxLine = maxLine;
        this.decoder = new GatedDecoder(maxLine);
    }

    /** Netty's line decoder that decodes nothing while the connection is paused, keeping the bytes. */
    private final class GatedDecoder extends LineBasedFrameDecoder {
        GatedDecoder(int maxLine) {
            super(maxLine, true, true);
        }

        @Override
        protected Object decode(ChannelHandlerContext ctx, io.netty.buffer.ByteBuf buffer) throws Exception {
            if (!accepting()) {
                ctx.channel().config().setAutoRead(false); // and no more reads until resume()
                return null;
            }
            return super.decode(ctx, buffer);
        }

        int buffered() {
            return actualReadableBytes();
        }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        channel = ctx.channel();
        node.send(gateway, new Gateway.Accepted(this));
        ctx.fireChannelActive();
    }

    /** The channel option that makes a connection unwritable at {@value #WRITE_HIGH_WATER} bytes of pending output. */
    static io.netty.channel.WriteBufferWaterMark writeWaterMark() {
        return new io.netty.channel.WriteBufferWaterMark(WRITE_LOW_WATER, WRITE_HIGH_WATER);
    }

    /** The line decoder for this connection: it decodes no further line while the connection is paused. */
    LineBasedFrameDecoder decoder() {
        return decoder;
    }

    /** Whether another line may go to the agent now. On the event loop. */
    private boolean accepting() {
        Channel c = channel;
        return waiting.get() < HIGH_WATER && c.isWritable();
    }

    /**
     * On the event loop: if the connection may take lines again, reads again and decodes the bytes
     * its decoder kept while it was paused (an empty read through the pipeline makes it decode them).
     */
    private void resume() {
        Channel c = channel;
        if (!c.isActive() || agent == null || !accepting()) {
            return;
        }
        if (!c.config().isAutoRead()) {
            c.config().setAutoRead(true);
        }
        if (decoder.buffered() > 0) {
            c.pipeline().fireChannelRead(io.netty.buffer.Unpooled.EMPTY_BUFFER);
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable()) {
            resume();
        } else {
            ctx.channel().config().setAutoRead(false);
        }
        ctx.fireChannelWritabilityChanged();
    }

    /** Binds the connection to its agent, greets the client and starts reading. Called from the agent's init. */
    void attach(Handle agent, String session) {
        this.agent = agent;
        write("* HELLO " + session);
        try {
            channel.config().setAutoRead(true);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // The gateway ended after the connection came and its event loops have stopped: they closed
            // the connection as they went (checked just below). The session has begun all the same, and
            // ends as one whose client went away, so its state is still saved.
        }
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
        waiting.incrementAndGet(); // the decoder passed this line on only below HIGH_WATER
        node.send(a, new Line(line));
    }

    /** The agent has dealt with one line. */
    void lineDone() {
        if (waiting.decrementAndGet() == LOW_WATER) {
            Channel c = channel;
            try {
                c.eventLoop().execute(this::resume);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                log.debug("gateway connection {}: not resumed, the gateway's event loops have stopped", c.remoteAddress());
            }
        }
    }

    /**
     * Sends one frame (a line without its line end), whether or not the client reads: answers are owed.
     * If more than {@value #MAX_QUEUED_OUTPUT} bytes already wait for the client, closes the connection instead.
     */
    void write(String frame) {
        Channel c = channel;
        io.netty.channel.ChannelOutboundBuffer queued = c.unsafe().outboundBuffer();
        if (queued != null && queued.totalPendingWriteBytes() > MAX_QUEUED_OUTPUT) {
            if (overflowed.compareAndSet(false, true)) {
                log.warn("gateway connection {}: the client has not read {} bytes of answers; closing the connection",
                        c.remoteAddress(), queued.totalPendingWriteBytes());
                c.close();
            }
            return;
        }
        // Encoded here, not by the pipeline's StringEncoder: Netty counts a ByteBuf's bytes against the
        // write high-water mark as soon as it is written from this thread, a String's only once the
        // event loop has encoded it, which is too late to stop the decoder in the middle of a read.
        c.writeAndFlush(io.netty.buffer.ByteBufUtil.encodeString(c.alloc(), java.nio.CharBuffer.wrap(frame + "\n"),
                java.nio.charset.StandardCharsets.UTF_8));
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
