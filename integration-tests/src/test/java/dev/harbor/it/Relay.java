package dev.harbor.it;

import dev.harbor.service.Message;
import dev.harbor.service.ServiceContext;
import java.time.Duration;

/**
 * A service for cluster tests, under a global name. Called with "" it answers its name; called with
 * "b,c" it calls the service named b with "c" and answers "itsName>" + b's answer.
 */
public final class Relay extends GloballyNamed {

    public Relay(String name) {
        super(name);
    }

    @Override
    public Object receive(ServiceContext ctx, Message m) {
        String rest = m.payload(String.class);
        if (rest.isEmpty()) {
            return name;
        }
        int comma = rest.indexOf(',');
        String next = comma < 0 ? rest : rest.substring(0, comma);
        String after = comma < 0 ? "" : rest.substring(comma + 1);
        return name + ">" + ctx.call(next, after, Duration.ofSeconds(10));
    }
}
