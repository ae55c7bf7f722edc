package dev.harbor.service;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** A monitor for tests: keeps every exit event it receives, in the order it received them. */
public final class RecordingMonitor extends Monitor {
    public final List<ExitEvent> events = new CopyOnWriteArrayList<>();

    @Override
    protected void onExit(ServiceContext context, ExitEvent event) {
        events.add(event);
    }

    public List<ExitEvent> of(Handle handle) {
        return events.stream().filter(e -> e.handle().equals(handle)).toList();
    }
}
