package dev.harbor.service;

import dev.harbor.exit.ExitEvent;
import dev.harbor.exit.Monitor;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** A monitor for tests: keeps every exit event it receives, in the order it received them. */
final class RecordingMonitor extends Monitor {
    final List<ExitEvent> events = new CopyOnWriteArrayList<>();

    @Override
    protected void onExit(ServiceContext context, ExitEvent event) {
        events.add(event);
    }

    List<ExitEvent> of(Handle handle) {
        return events.stream().filter(e -> e.handle().equals(handle)).toList();
    }
}
