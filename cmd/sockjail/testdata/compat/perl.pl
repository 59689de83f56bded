#!/usr/bin/perl
# perl under the default policy: stdin, a regex, a child through a pipe.
use strict;
use warnings;
$| = 1;
my $line = <STDIN>;
chomp $line;
(my $swapped = $line) =~ s/(\w+) (\w+)/$2 $1/;
printf "perl=%s len=%d\n", uc $swapped, length $line;
open(my $child, "-|", "echo", "child") or die "fork: $!";
my $got = <$child>;
close $child;
print "child=$got";
