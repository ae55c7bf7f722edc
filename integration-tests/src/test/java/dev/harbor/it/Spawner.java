package dev.harbor.it;

import dev.harbor.service.Message;
import dev.harbor.service.Node;
import dev.harbor.service.ServiceContext;

/**
 * A stateless service, under a global name, that launches a {@link Registered} on its node when called
 * with that service's arguments ("name;role;drainTimeoutMs;dependsOn;mode;journal"), and answers the new
 * handle. Lets a test add registrations to a running node process.
 */
public final class Spawner extends GloballyNamed {

    public Spawner(String name) {
        super(name);
    }

    @Override
    public Object receive(ServiceContext ctx, Message m) {
        Object[] args = m.payload(String.class).split(";", -1);
        return ctx.launch(Node.factoryOf(Registered.class, args)).toString();
    }
}
