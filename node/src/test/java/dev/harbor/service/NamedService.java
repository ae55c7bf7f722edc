package dev.harbor.service;

import dev.harbor.service.Message;
import dev.harbor.service.Service;
import dev.harbor.service.ServiceContext;

/** A service for node configs in tests: registers the name it is given and answers calls with their payload. */
public final class NamedService implements Service {
    private final String name;

    public NamedService(String name) {
        this.name = name;
    }

    @Override
    public void init(ServiceContext context) {
        context.register(name);
    }

    @Override
    public Object receive(ServiceContext context, Message message) {
        return message.payload();
    }
}
