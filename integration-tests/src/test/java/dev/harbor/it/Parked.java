package dev.harbor.it;

import dev.harbor.service.Message;
import dev.harbor.service.Service;
import dev.harbor.service.ServiceContext;

/** A service that never answers a call (its calls stay in flight), under a global name. */
public final class Parked implements Service {
    private final String name;

    public Parked(String name) {
        this.name = name;
    }

    @Override
    public void init(ServiceContext ctx) {
        ctx.register(name);
    }

    @Override
    public Object receive(ServiceContext ctx, Message m) {
        m.defer();
        return null;
    }
}
