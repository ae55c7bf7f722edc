package dev.harbor.service;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The default monitor: one log line per exit, like skynet's simplemonitor. */
public class LoggingMonitor extends Monitor {
    private static final Logger log = LoggerFactory.getLogger(LoggingMonitor.class);

    @Override
    protected void onExit(ServiceContext context, ExitEvent event) {
        log.info("node {} exit {}", event.node(), event);
    }
}
