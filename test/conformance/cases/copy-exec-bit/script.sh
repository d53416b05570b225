#!/bin/sh
echo ran > /ran.txt
