package dev.harbor.service;

/** Makes the object of a service about to be launched; its {@link Service#init} runs next. */
@FunctionalInterface
public interface ServiceFactory {
    Service create() throws Exception;
}
