package dev.harbor.it;

import dev.harbor.service.Service;
import dev.harbor.service.ServiceContext;

/** A test service that takes a global name in its init; node configs launch it with that name as argument. */
abstract class GloballyNamed implements Service {
    protected final String name;

    GloballyNamed(String name) {
        this.name = name;
    }

    @Override
    public void init(ServiceContext ctx) {
        ctx.register(name);
    }
}
