"""gantry's test bed: real registries on loopback, an image builder with full
control over tar headers, a push client, and deliberately broken images.

    from gantry_testbed import registry, images, broken
    info = registry.start("/tmp/reg", "tls")
    digest = info.client.push_image("demo/busybox", images.busybox_image(), tag="latest")
    registry.stop("/tmp/reg")
"""
