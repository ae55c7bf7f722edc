package dev.harbor.cli;

import dev.harbor.service.Message;
import dev.harbor.service.Service;
import dev.harbor.service.ServiceContext;

/** A service for node configs in tests whose handler is stuck: it sends itself a message and sleeps a minute on it. */
public final class StuckService implements Service {
    @Override
    public void init(ServiceContext context) {
        context.send(context.self(), "get stuck");
    }

    @Override
    public Object receive(ServiceContext context, Message message) throws InterruptedException {
        Thread.sleep(60_000); // a handler stuck in a call that never returns; ending the service does not interrupt it
        return null;
    }
}
