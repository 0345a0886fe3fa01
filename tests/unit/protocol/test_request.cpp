#include <redstream/io/config.hpp>
#include <redstream/protocol/error.hpp>
#include <redstream/protocol/request.hpp>

#include <boost/system/system_error.hpp>
#include <boost/test/unit_test.hpp>

#include <map>

using namespace redstream;

BOOST_AUTO_TEST_SUITE(request_and_config)

BOOST_AUTO_TEST_CASE(serializes_every_argument_kind) {
    request r;
    std::vector<std::pair<std::string, std::string>> fields{{"a", "1"}, {"bb", ""}};
    r.push("XADD", "s", "MAXLEN", "~", 1000, "*", fields);
    BOOST_TEST(r.payload() ==
               "*10\r\n$4\r\nXADD\r\n$1\r\ns\r\n$6\r\nMAXLEN\r\n$1\r\n~\r\n$4\r\n1000\r\n$1\r\n*\r\n"
               "$1\r\na\r\n$1\r\n1\r\n$2\r\nbb\r\n$0\r\n\r\n");
    r.clear();
    std::vector<stream_id> ids{{1, 2}, {3, 4}};
    r.push("XACK", std::string{"s"}, std::string_view{"g"}, ids, -5, std::chrono::milliseconds{250}, 2.5);
    BOOST_TEST(r.payload() ==
               "*8\r\n$4\r\nXACK\r\n$1\r\ns\r\n$1\r\ng\r\n$3\r\n1-2\r\n$3\r\n3-4\r\n$2\r\n-5\r\n$3\r\n250\r\n$3\r\n2.5\r\n");
    BOOST_TEST(r.commands() == 1u);
    BOOST_TEST(r.expected_replies() == 1u);
}

BOOST_AUTO_TEST_CASE(buffer_is_reused_after_clear) {
    request r;
    for (int i = 0; i < 100; ++i)
        r.push("XACK", "orders", "g", stream_id{1, static_cast<std::uint64_t>(i)});
    auto const* data = r.payload().data();
    auto const size = r.payload().size();
    r.clear();
    for (int i = 0; i < 100; ++i)
        r.push("XACK", "orders", "g", stream_id{1, static_cast<std::uint64_t>(i)});
    BOOST_TEST(r.payload().size() == size);
    BOOST_TEST(r.payload().data() == data); // no reallocation
    BOOST_TEST(r.commands() == 100u);
}

BOOST_AUTO_TEST_CASE(subscriptions_are_counted_apart) {
    request r;
    r.push("SUBSCRIBE", "a", "b");
    r.push("psubscribe", "__keyspace@0__:*");
    BOOST_TEST(r.expected_replies() == 0u);
    BOOST_TEST(r.subscriptions() == (std::vector<std::size_t>{2, 1}));
}

BOOST_AUTO_TEST_CASE(urls_parse) {
    auto c = config::from_url("redis://app:s3cr%40t@cache.local:6380/2");
    BOOST_TEST(c.host == "cache.local");
    BOOST_TEST(c.port == 6380);
    BOOST_TEST(c.username == "app");
    BOOST_TEST(c.password == "s3cr@t");
    BOOST_TEST(c.database == 2);
    BOOST_TEST((c.kind == config::transport::tcp));

    auto p = config::from_url("redis://:pw@127.0.0.1");
    BOOST_TEST(p.username == "");
    BOOST_TEST(p.password == "pw");
    BOOST_TEST(p.port == 6379);

    auto t = config::from_url("rediss://localhost:6390?ca=/tmp/ca.crt&sni=redis.internal");
    BOOST_TEST((t.kind == config::transport::tls));
    BOOST_TEST(t.tls.ca_file == "/tmp/ca.crt");
    BOOST_TEST(t.tls.server_name == "redis.internal");

    auto u = config::from_url("unix:///var/run/redis.sock?db=3");
    BOOST_TEST((u.kind == config::transport::unix_socket));
    BOOST_TEST(u.unix_path == "/var/run/redis.sock");
    BOOST_TEST(u.database == 3);

    auto v6 = config::from_url("redis://[::1]:7000");
    BOOST_TEST(v6.host == "::1");
    BOOST_TEST(v6.port == 7000);
}

BOOST_AUTO_TEST_CASE(cluster_urls_name_several_seeds_and_the_mode) {
    auto c = config::from_url("redis://u:pw@10.0.0.1:7000,10.0.0.2:7001,node-c,[::1]:7003/0?cluster=yes");
    BOOST_TEST(c.host == "10.0.0.1");
    BOOST_TEST(c.port == 7000);
    BOOST_TEST(c.password == "pw");
    BOOST_TEST((c.cluster == cluster_mode::on));
    BOOST_TEST_REQUIRE(c.extra_seeds.size() == 3u);
    BOOST_TEST(c.extra_seeds[0].host == "10.0.0.2");
    BOOST_TEST(c.extra_seeds[0].port == 7001);
    BOOST_TEST(c.extra_seeds[1].host == "node-c");
    BOOST_TEST(c.extra_seeds[1].port == 7000); // the first host's port
    BOOST_TEST(c.extra_seeds[2].host == "::1");
    BOOST_TEST(c.extra_seeds[2].port == 7003);
    BOOST_TEST((config::from_url("redis://h").cluster == cluster_mode::automatic));
    BOOST_TEST((config::from_url("redis://h?cluster=no").cluster == cluster_mode::off));
    BOOST_TEST((config::from_url("redis://h?cluster=auto").cluster == cluster_mode::automatic));
    BOOST_CHECK_THROW(config::from_url("redis://h?cluster=maybe"), boost::system::system_error);
    BOOST_CHECK_THROW(config::from_url("redis://h,,k"), boost::system::system_error);
    BOOST_CHECK_THROW(config::from_url("redis://h,k:0"), boost::system::system_error);
    BOOST_CHECK_THROW(config::from_url("redis://,k:7000"), boost::system::system_error);
    BOOST_CHECK_THROW(config::from_url("redis://h,k,"), boost::system::system_error);
    BOOST_CHECK_THROW(config::from_url("redis://h,"), boost::system::system_error);
    BOOST_CHECK_THROW(config::from_url("redis://h,k:"), boost::system::system_error);
}

BOOST_AUTO_TEST_CASE(bad_urls_fail_without_leaking_the_password) {
    for (std::string bad : {"http://x", "redis://u:hunter2@h:99999", "redis://u:hunter2@h/abc",
                            "redis://u:hunter2@h?bogus=1", "unix://relative", "redis://u:hunter2%zz@h"}) {
        try {
            (void)config::from_url(bad);
            BOOST_FAIL("accepted " << bad);
        } catch (boost::system::system_error const& e) {
            BOOST_TEST((e.code() == errc::invalid_url));
            BOOST_TEST(std::string{e.what()}.find("hunter2") == std::string::npos, e.what());
        }
    }
    auto c = config::from_url("redis://u:hunter2@h:1/0");
    BOOST_TEST(c.redacted_address().find("hunter2") == std::string::npos);
    BOOST_TEST(c.redacted_address() == "redis://u:***@h:1/0");
    // IPv6 literals keep their brackets: the address reads back as the URL it came from.
    BOOST_TEST(config::from_url("redis://[::1]:6380/2").redacted_address() == "redis://[::1]:6380/2");
    BOOST_TEST(config::from_url(config::from_url("rediss://[fe80::1]:6379").redacted_address()).host == "fe80::1");
}

BOOST_AUTO_TEST_SUITE_END()
