package dev.harbor.service;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The node's monitor: the one service that receives every exit event of its node, in sequence order.
 * It is part of the node, not a service built on it: the node launches it first (with each new life),
 * routes every exit event to it, stops it last and refuses to kill it.
 *
 * <p>It also answers {@link Watch} requests, which is how {@code watch(handle)} works: a watcher of a
 * live service is told when its exit event arrives here; a watcher of a service that has already
 * exited is told at once. Extend it and override {@link #onExit} to do more with each exit (the
 * default, {@link LoggingMonitor}, logs a line).
 *
 * <p>Threading: an ordinary service; its watcher table is touched only by its own handlers.
 */
public abstract class Monitor implements Service {

    /**
     * Asks to be told when {@code target} exits. As a call, the reply is the {@link ExitEvent} (or a
     * {@link WatchFailed}). As a send, that answer is sent to {@code watcher}.
     */
    public record Watch(Handle target, Handle watcher) {
    }

    /**
     * The answer instead of the exit event when {@code target} has exited so long ago that its
     * event is no longer retained, or never existed; {@code why} says which.
     */
    public record WatchFailed(Handle target, String why) {
    }

    private final Map<Handle, List<Object>> watchers = new HashMap<>();

    /** The tag that marks a node's monitor in its service list. */
    public static final String TAG = "harbor.monitor";

    /** Marks this service as its node's monitor, then runs {@link #onStart}. */
    @Override
    public final void init(ServiceContext context) throws Exception {
        context.tag(TAG, "true");
        onStart(context);
    }

    /** Runs once when the monitor starts; nothing by default. */
    protected void onStart(ServiceContext context) throws Exception {
    }

    /** Called for every exit event of this node, in sequence order. */
    protected abstract void onExit(ServiceContext context, ExitEvent event);

    @Override
    public final Object receive(ServiceContext context, Message message) throws Exception {
        if (message.payload() instanceof ExitEvent event) {
            tellWatchers(context, event);
            onExit(context, event);
            return null;
        }
        if (message.payload() instanceof Watch watch) {
            return watch(context, message, watch);
        }
        return onOther(context, message);
    }

    /** Handles messages other than exit events and watches; by default refuses calls with an error. */
    protected Object onOther(ServiceContext context, Message message) throws Exception {
        throw new IllegalArgumentException("the monitor does not understand " + message);
    }

    private Object watch(ServiceContext context, Message message, Watch watch) {
        Handle target = watch.target();
        Node node = nodeOf(context); // the monitor answers for its node: it reads the exit log and the table
        if (target.node() != node.id()) {
            return answer(context, message, watch, new WatchFailed(target, "service " + target + " is on node "
                    + target.node() + ": watch tells of this node's services; follow node " + target.node()
                    + "'s WatchExits stream instead"));
        }
        // A service stops being alive before its exit event is published, and leaves the node's table
        // only after: if it is neither alive nor in the log yet but still in the table (ending, or
        // still in its init), its event is still to come, and reaches this monitor after this request.
        // The monitor handles exit events in order, so a watcher registered now is told.
        // The table is read before the log: a service leaves the table only after its event is in the
        // log, so "in the table then, not in the log now" means the event is still to come. (Reading
        // the log first lost a race: not in the log yet, then published and gone from the table.)
        if (node.isAlive(target)) {
            return await(message, watch, target);
        }
        boolean ending = node.isUnlisted(target);
        ExitEvent event = node.exits().find(target).orElse(null);
        if (event == null && ending) {
            return await(message, watch, target);
        }
        if (event == null) {
            String why = target.node() == node.id() && node.everExisted(target)
                    ? "service " + target + " is gone, and its exit event is no longer retained"
                    : "no service " + target + " exists on node " + node.id();
            return answer(context, message, watch, new WatchFailed(target, why));
        }
        if (!message.isCall() && watch.watcher() != null) {
            context.send(watch.watcher(), event);
        }
        return event;
    }

    /**
     * The node that the service of {@code context} runs on, whole: the monitor answers for its node
     * (it reads the exit log and the services still starting or ending), where
     * {@link ServiceContext#node()} gives every other service a {@link NodeView} only.
     *
     * @throws IllegalArgumentException if {@code context} is not a context a node handed to a service
     */
    private static Node nodeOf(ServiceContext context) {
        if (context instanceof ServiceCell cell) {
            return cell.node;
        }
        throw new IllegalArgumentException("not the context of a service of a Harbor node: " + context);
    }

    private Object await(Message message, Watch watch, Handle target) {
        Object waiter = message.isCall() ? message.defer() : watch.watcher();
        if (waiter != null) {
            watchers.computeIfAbsent(target, t -> new ArrayList<>()).add(waiter);
        }
        return null;
    }

    private static Object answer(ServiceContext context, Message message, Watch watch, WatchFailed failed) {
        if (!message.isCall() && watch.watcher() != null) {
            context.send(watch.watcher(), failed);
        }
        return failed;
    }

    private void tellWatchers(ServiceContext context, ExitEvent event) {
        List<Object> waiting = watchers.remove(event.handle());
        if (waiting == null) {
            return;
        }
        for (Object waiter : waiting) {
            if (waiter instanceof DeferredReply reply) {
                reply.reply(event);
            } else {
                context.send((Handle) waiter, event);
            }
        }
    }
}
