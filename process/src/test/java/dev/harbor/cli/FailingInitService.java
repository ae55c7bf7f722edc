package dev.harbor.cli;

import dev.harbor.service.Message;
import dev.harbor.service.Service;
import dev.harbor.service.ServiceContext;

/** A service whose init always fails, for node configs in tests. */
public final class FailingInitService implements Service {
    @Override
    public void init(ServiceContext context) {
        throw new IllegalStateException("the database is not there");
    }

    @Override
    public Object receive(ServiceContext context, Message message) {
        return null;
    }
}
