package dev.harbor.it;

import dev.harbor.service.Message;
import dev.harbor.service.ServiceContext;

/** A service that never answers a call (its calls stay in flight), under a global name. */
public final class Parked extends GloballyNamed {

    public Parked(String name) {
        super(name);
    }

    @Override
    public Object receive(ServiceContext ctx, Message m) {
        m.defer();
        return null;
    }
}
